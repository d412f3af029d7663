/**
 * The anchored audit log on real stores: every kind of tampering is detected by `stepwise audit verify`
 * against a signed checkpoint (edited row, removed middle row, truncated tail, wiped table, forged
 * checkpoint), a checkpointed prune still verifies, and appends stay one chain under concurrency.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { storeMatrix, type StoreSetup } from '../helpers/stores.js';
import { run, type CliIo } from '../../src/cli/index.js';
import { loadConfig } from '../../src/config/index.js';
import { createDb, migrate, type Db } from '../../src/store/db.js';
import { SecretBox } from '../../src/security/crypto.js';
import { AuditLog } from '../../src/audit/log.js';
import { CheckpointKeys } from '../../src/audit/checkpoint.js';
import { Checkpointer } from '../../src/audit/checkpointer.js';
import { createLogger } from '../../src/http/logger.js';

describe.each(storeMatrix)('anchored audit log on $name', (kind) => {
  let stores: StoreSetup;
  let db: Db;
  let keys: CheckpointKeys;
  let clock = Date.UTC(2026, 0, 1);
  let audit: AuditLog;

  beforeAll(async () => {
    stores = await kind.setup();
    const config = loadConfig({ ...stores.env, NODE_ENV: 'test', LOG_LEVEL: 'silent' });
    db = createDb(config.database);
    await migrate(db);
    keys = CheckpointKeys.fromBox(SecretBox.fromSecrets(config.secrets));
    audit = new AuditLog(db, () => clock, { keys });
  });
  afterAll(async () => {
    await db?.destroy();
    await stores?.cleanup();
  });
  beforeEach(async () => {
    await db('audit_events').del();
    await db('audit_checkpoints').del();
  });

  /** Runs the CLI; resolves to its JSON output, or rejects with the error and the output it printed. */
  async function cli(argv: string[], opts: { stdin?: string; env?: Record<string, string> } = {}): Promise<any> {
    let written = '';
    const io: CliIo = { env: { ...stores.env, LOG_LEVEL: 'silent', ...opts.env }, readStdin: async () => opts.stdin ?? '', write: (t) => (written += t) };
    try {
      await run(argv, io);
    } catch (err) {
      throw Object.assign(err as Error, { output: written ? JSON.parse(written) : undefined });
    }
    return JSON.parse(written);
  }

  async function verifyFails(argv: string[], stdin?: string): Promise<{ kind: string; message: string; report: any; exitCode: unknown }> {
    const err = await cli(['audit', 'verify', ...argv], { stdin }).then(
      () => null,
      (e: { exitCode?: unknown; output?: any; message: string }) => e,
    );
    expect(err, 'verify should have failed').not.toBeNull();
    return { kind: err!.output?.problem?.kind, message: err!.message, report: err!.output, exitCode: err!.exitCode };
  }

  async function record(n: number) {
    for (let i = 0; i < n; i++) {
      clock += 60_000;
      await audit.record({ type: 'login.complete', outcome: 'success', userId: `u${i}`, details: { i } });
    }
  }

  const seqs = async () => (await db('audit_events').orderBy('seq').pluck('seq')).map(Number);

  it('intact: verify passes against an exported checkpoint (file or stdin) and reports what it checked', async () => {
    await record(6);
    const cp = await cli(['audit', 'checkpoint']);
    expect(cp).toMatchObject({ type: 'stepwise.audit.checkpoint', kind: 'export', count: 6, keyId: keys.signer.keyId });
    const report = await cli(['audit', 'verify', '--checkpoint', '-'], { stdin: JSON.stringify(cp) });
    expect(report).toMatchObject({ intact: true, firstBrokenEvent: null, problem: null, events: 6, checkpoint: { seq: cp.seq, source: 'given' } });
    expect(report.warning).toBeUndefined();
    // Without one, the stored copy is used, and verify says what that cannot prove.
    const alone = await cli(['audit', 'verify']);
    expect(alone).toMatchObject({ intact: true, checkpoint: { source: 'stored' } });
    expect(alone.warning).toMatch(/stored checkpoints, which database access can delete/);
  });

  it('an edited row', async () => {
    await record(6);
    const cp = JSON.stringify(await cli(['audit', 'checkpoint']));
    const [, , third] = await seqs();
    await db('audit_events').where({ seq: third }).update({ outcome: 'failure' });
    const r = await verifyFails(['--checkpoint', '-'], cp);
    expect(r.kind).toBe('edited');
    expect(r.exitCode).toBe(3);
    expect(r.message).toMatch(new RegExp(`seq ${third}\\) was edited`));
    expect(r.report.firstBrokenEvent).toEqual(expect.any(String));
  });

  it('a removed middle row', async () => {
    await record(6);
    const cp = JSON.stringify(await cli(['audit', 'checkpoint']));
    const s = await seqs();
    await db('audit_events').where({ seq: s[2] }).del();
    const r = await verifyFails(['--checkpoint', '-'], cp);
    expect(r.kind).toBe('removed');
    expect(r.message).toContain(`between seq ${s[1]} and ${s[3]} were removed`);
  });

  it('a truncated tail, also when the stored checkpoints are deleted with it', async () => {
    await record(6);
    const cp = await cli(['audit', 'checkpoint']);
    const s = await seqs();
    await db('audit_events').where('seq', '>', s[3]!).del();
    await db('audit_checkpoints').del();
    // The chain that is left is consistent: only the checkpoint shows the cut.
    expect(await cli(['audit', 'verify'])).toMatchObject({ intact: true });
    const r = await verifyFails(['--checkpoint', '-'], JSON.stringify(cp));
    expect(r.kind).toBe('truncated');
    expect(r.message).toContain(`the log ends at seq ${s[3]}`);
    expect(r.message).toContain(`through seq ${cp.seq}`);
    // Cut and re-grown past the checkpoint's seq: the hash there differs.
    await record(4);
    const again = await verifyFails(['--checkpoint', '-'], JSON.stringify(cp));
    expect(again.kind).toBe('truncated');
    expect(again.message).toMatch(new RegExp(`seq ${cp.seq} does not exist`));
  });

  it('a wiped table', async () => {
    await record(5);
    const cp = JSON.stringify(await cli(['audit', 'checkpoint']));
    await db('audit_events').del();
    await db('audit_checkpoints').del();
    const r = await verifyFails(['--checkpoint', '-'], cp);
    expect(r.kind).toBe('wiped');
    expect(r.message).toMatch(/empty, but a checkpoint .* covers 5 events/);
  });

  it('a forged checkpoint is rejected: altered, signed by another key, or a doctored stored row', async () => {
    await record(4);
    const cp = await cli(['audit', 'checkpoint']);
    // An attacker who cut the tail presents an "older" checkpoint of their own making.
    const altered = await verifyFails(['--checkpoint', '-'], JSON.stringify({ ...cp, seq: cp.seq - 1, count: 3 }));
    expect(altered.kind).toBe('forged_checkpoint');
    expect(altered.message).toMatch(/invalid signature/);
    const foreign = CheckpointKeys.fromBox(new SecretBox(randomBytes(32))).signer.sign({ kind: 'export', seq: cp.seq, hash: cp.hash, count: cp.count, at: cp.at });
    expect((await verifyFails(['--checkpoint', '-'], JSON.stringify(foreign))).message).toMatch(/not the audit key/);
    await db('audit_checkpoints').update({ count: 99 });
    const stored = await verifyFails([]);
    expect(stored.kind).toBe('forged_checkpoint');
    expect(stored.message).toMatch(/audit_checkpoints table was tampered/);
  });

  it('the public key alone verifies (no secret), and it is the key that signs', async () => {
    await record(3);
    const cp = JSON.stringify(await cli(['audit', 'checkpoint']));
    const pub = await cli(['audit', 'public-key']);
    expect(pub).toMatchObject({ keyId: keys.signer.keyId, publicKey: keys.signer.publicKeyRaw });
    expect(pub.pem).toContain('BEGIN PUBLIC KEY');
    const strangerEnv = { STEPWISE_ENCRYPTION_KEY: randomBytes(32).toString('base64'), STEPWISE_COOKIE_KEYS: randomBytes(32).toString('base64url') };
    const ok = await cli(['audit', 'verify', '--checkpoint', '-', `--public-key=${pub.publicKey}`], { stdin: cp, env: strangerEnv });
    expect(ok).toMatchObject({ intact: true, checkpoint: { source: 'given' } });
    const wrong = await cli(['audit', 'verify', '--checkpoint', '-'], { stdin: cp, env: strangerEnv }).catch((e: { output: any }) => e.output);
    expect(wrong.problem.kind).toBe('forged_checkpoint');
    await expect(cli(['audit', 'verify', '--public-key', 'not-a-key'])).rejects.toMatchObject({ code: 'invalid_request' });
  });

  it('prune: checkpoints the boundary first, then deletes; verify follows the pruned log and still catches tampering', async () => {
    await record(8);
    const before = await cli(['audit', 'checkpoint']);
    const s = await seqs();
    const cut = Number((await db('audit_events').where({ seq: s[5] }).first('at')).at);
    const pruned = await cli(['audit', 'prune', '--before', new Date(cut).toISOString()]);
    expect(pruned).toMatchObject({ pruned: 5, checkpoint: { kind: 'prune', seq: s[4], count: 5 } });
    // The prune itself is audited, after the boundary.
    const rest = await db('audit_events').orderBy('seq').select('seq', 'type');
    expect(rest.map((r) => Number(r.seq))[0]).toBe(s[5]);
    expect(rest[rest.length - 1]!.type).toBe('audit.pruned');
    // The pre-prune export and a fresh one both verify.
    expect(await cli(['audit', 'verify', '--checkpoint', '-'], { stdin: JSON.stringify(before) })).toMatchObject({ intact: true, anchor: { kind: 'prune', seq: s[4] } });
    const after = await cli(['audit', 'checkpoint']);
    expect(after.count).toBe(9); // every event ever recorded: the 8, then the prune event (5 of them pruned)
    expect(await cli(['audit', 'verify', '--checkpoint', '-'], { stdin: JSON.stringify(after) })).toMatchObject({ intact: true });
    // Leading rows removed beyond the boundary: no prune checkpoint covers them.
    await db('audit_events').where({ seq: s[5] }).del();
    expect((await verifyFails(['--checkpoint', '-'], JSON.stringify(after))).kind).toBe('removed_head');
    // A new checkpoint counts on from the newest one the chain still passes through (not from the table alone).
    await db('audit_checkpoints').where({ kind: 'prune' }).del();
    expect((await cli(['audit', 'checkpoint'])).count).toBe(9);
  });

  it('prune without the stored boundary: the exported prune checkpoint anchors it; a prune refuses a broken log', async () => {
    await record(6);
    const s = await seqs();
    const cut = Number((await db('audit_events').where({ seq: s[3] }).first('at')).at);
    const pruned = await cli(['audit', 'prune', '--before', String(cut)]);
    await db('audit_checkpoints').del();
    expect((await verifyFails([])).kind).toBe('removed_head');
    expect(await cli(['audit', 'verify', '--checkpoint', '-'], { stdin: JSON.stringify(pruned) })).toMatchObject({ intact: true, anchor: { kind: 'prune' } });
    // Evidence is never pruned away.
    await db('audit_events').where({ seq: s[4] }).update({ type: 'edited' });
    await expect(cli(['audit', 'prune', '--before', '2100-01-01'])).rejects.toMatchObject({ code: 'conflict', message: expect.stringMatching(/refusing to prune/) });
    await expect(cli(['audit', 'prune', '--before', 'yesterday'])).rejects.toMatchObject({ code: 'invalid_request', field: 'before' });
  });

  it('an append is one transaction: the lock and the head read share one round trip on PostgreSQL', async () => {
    await audit.record({ type: 'factor.verify.totp', outcome: 'success', userId: 'u0' });
    const statements: string[] = [];
    const onQuery = (q: { sql: string }) => statements.push(q.sql.trim().split(/\s+/).slice(0, 2).join(' ').toLowerCase());
    db.on('query', onQuery);
    try {
      await audit.append([1, 2].map((i) => ({ id: `e${i}`, at: clock, type: 'factor.verify.totp', outcome: 'success', userId: 'u0', clientId: null, ip: null, details: {} })));
    } finally {
      db.off('query', onQuery);
    }
    const round = statements.filter((s) => !/^(begin|commit)/.test(s));
    expect(round).toEqual(kind.name === 'sqlite' ? ['select hash', 'insert into'] : ['select pg_advisory_xact_lock(7431001);', 'insert into']);
    expect(await audit.verifyChain()).toBeNull();
    expect(Number((await db('audit_events').count({ n: '*' }).first())!.n)).toBe(3);
  });

  it('concurrent appends stay one chain; periodic checkpoints in the log stream verify it', async () => {
    const lines: string[] = [];
    const log = createLogger('info', new Writable({ write: (chunk, _e, cb) => (lines.push(...String(chunk).split('\n').filter(Boolean)), cb()) }));
    const live = new AuditLog(db, Date.now, { keys });
    const cp = new Checkpointer({ db, audit: live, keys, log, now: Date.now }, { everyEvents: 7, intervalMs: 0 }).start();
    await Promise.all(Array.from({ length: 40 }, (_, i) => live.record({ type: 'factor.verify.totp', outcome: i % 3 ? 'success' : 'failure', userId: `u${i}` })));
    await cp.stop();
    expect(Number((await db('audit_events').count({ n: '*' }).first())!.n)).toBe(40);
    const stream = lines.join('\n');
    const checkpoints = lines.filter((l) => JSON.parse(l).msg === 'audit.checkpoint');
    expect(checkpoints.length).toBeGreaterThanOrEqual(2);
    const report = await cli(['audit', 'verify', '--checkpoint', '-'], { stdin: stream });
    expect(report).toMatchObject({ intact: true, events: 40, checkpoint: { seq: Math.max(...(await seqs())), count: 40 } });
    expect(await live.verifyChain()).toBeNull();
    // And the log stream catches a cut that the database alone would not.
    await db('audit_events').where('seq', '>', (await seqs())[30]!).del();
    await db('audit_checkpoints').del();
    expect((await verifyFails(['--checkpoint', '-'], stream)).kind).toBe('truncated');
    expect(await live.verifyChain()).toBeNull();
  });
});
