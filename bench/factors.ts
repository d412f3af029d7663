/**
 * In-process factor benchmarks (npm run bench:factors): TOTP verification (decrypt seed, check window,
 * atomic step update), backup-code verification (HMAC lookup + argon2id + single-use update) and the pure
 * step-up decision. Embedded SQLite; prints figures, asserts nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { generateSync } from 'otplib';
import { createDb, migrate } from '../src/store/db.js';
import { SecretBox } from '../src/security/crypto.js';
import { PasswordHasher } from '../src/security/password.js';
import { UsersRepo } from '../src/store/repos/users.js';
import { FactorsRepo } from '../src/store/repos/factors.js';
import { BackupCodesRepo } from '../src/store/repos/backup-codes.js';
import { TotpFactor } from '../src/factors/totp/index.js';
import { BackupCodesFactor } from '../src/factors/backup-codes/index.js';
import { DEFAULT_LEVELS } from '../src/policy/levels.js';
import { requirement, tokenAcr } from '../src/policy/decision.js';
import type { VerifiedMethod } from '../src/factors/types.js';

const N = Number(process.env.BENCH_ITERATIONS ?? 200);

function report(label: string, xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  console.log(`${label.padEnd(44)} p50 ${q(0.5).toFixed(3)} ms · p95 ${q(0.95).toFixed(3)} ms (n=${s.length})`);
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'stepwise-bench-f-'));
  const db = createDb({ client: 'sqlite', filename: join(dir, 'b.sqlite') });
  try {
    await migrate(db);
    const box = new SecretBox(randomBytes(32));
    const users = new UsersRepo(db);
    const factors = new FactorsRepo(db);
    const totp = new TotpFactor({ factors, box, issuer: 'Stepwise' });
    const backup = new BackupCodesFactor({ factors, codes: new BackupCodesRepo(db), box, hasher: new PasswordHasher({ memoryCost: 7168, timeCost: 1, parallelism: 1 }) });
    console.log(`Stepwise factor benchmarks — SQLite, Node ${process.version}`);

    // TOTP: each iteration uses the next time step, as a real user would (a step verifies once).
    const u = await users.create({ email: 'bench@example.test', passwordHash: 'x' });
    let now = Date.now();
    const ctx = () => ({ userId: u.id, userEmail: u.email, userName: null, scope: 'b', now });
    const start = await totp.startEnrollment(ctx(), {});
    await totp.finishEnrollment(ctx(), { factorId: start.factorId, code: generateSync({ secret: start.secret as string, epoch: Math.floor(now / 1000) }) });
    const totpTimes: number[] = [];
    for (let i = 0; i < N; i++) {
      now += 30_000;
      const code = generateSync({ secret: start.secret as string, epoch: Math.floor(now / 1000) });
      const t0 = performance.now();
      await totp.verify(ctx(), { code });
      totpTimes.push(performance.now() - t0);
    }
    report('TOTP verify (decrypt + window + CAS)', totpTimes);

    const backupTimes: number[] = [];
    for (let batch = 0; batch < Math.ceil(Math.min(N, 50) / 10); batch++) {
      const { codes } = (await backup.startEnrollment(ctx(), {})) as { codes: string[] };
      for (const code of codes) {
        const t0 = performance.now();
        await backup.verify(ctx(), { code });
        backupTimes.push(performance.now() - t0);
      }
    }
    report('backup code verify (HMAC + argon2id + once)', backupTimes);

    const t = Math.floor(Date.now() / 1000);
    const methods: VerifiedMethod[] = [
      { kind: 'password', amr: ['pwd'], category: 'knowledge', phishingResistant: false, userVerified: false, at: t - 100 },
      { kind: 'totp', amr: ['otp'], category: 'possession', phishingResistant: false, userVerified: false, at: t - 50 },
    ];
    const decisions: number[] = [];
    for (let i = 0; i < N * 50; i++) {
      const t0 = performance.now();
      const req = requirement(DEFAULT_LEVELS, { min_acr: 'loa2' }, { acrValues: 'loa1 phr' });
      tokenAcr(DEFAULT_LEVELS, req, methods, t, {});
      decisions.push(performance.now() - t0);
    }
    report('step-up decision (requirement + tokenAcr)', decisions);
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
