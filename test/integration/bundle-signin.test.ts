/**
 * The shipped artifact signs users in on every store: dist/src/main.bundle.js (what `npm start` and the
 * Docker image run) started as a process on SQLite and on PostgreSQL + Redis, and a password + TOTP sign-in
 * driven through its hosted pages (bench/perf/driver.ts: authorize → password → TOTP → resume → token, PKCE).
 * The packages it loads on first use (src/lazy.ts: otplib at the TOTP check, the throttle's limiter class,
 * …) are required from the bundle's own place here, which the in-process tests never do.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/paths.js';
import { freePort } from '../helpers/server.js';
import { storeMatrix, type StoreSetup } from '../helpers/stores.js';
import { seedStepwise } from '../../bench/perf/seed-stepwise.js';
import { signIn, type BenchUser, type Target } from '../../bench/perf/driver.js';

const bundle = join(PROJECT_ROOT, 'dist/src/main.bundle.js');
const REDIRECT = 'http://127.0.0.1:9/callback';

describe.each(storeMatrix)('the bundled server signs in with password + TOTP ($name)', (kind) => {
  let store: StoreSetup;
  let child: ChildProcess | undefined;
  let output = '';
  let target: Target;
  const user: BenchUser = { email: `bundle-${randomBytes(4).toString('hex')}@example.test`, password: `pw-${randomBytes(12).toString('base64url')}` };

  beforeAll(async () => {
    expect(existsSync(bundle), `${bundle} is missing: run npm run build`).toBe(true);
    store = await kind.setup();
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env: Record<string, string> = {
      ...store.env,
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      HOST: '127.0.0.1',
      ISSUER: base,
      LOG_LEVEL: 'warn',
      STEPWISE_DEMO: 'false',
    };
    // Seeded through the service layer (migrations, user, TOTP enrolment, client), then closed: the bundle
    // starts on the migrated store as a deployment would.
    const client = await seedStepwise(env, { password: [], totp: [user] }, REDIRECT);
    target = { name: 'bundle', base, clientId: client.clientId, clientSecret: client.clientSecret, redirectUri: REDIRECT, twoFactorParams: { acr_values: 'loa2' } };
    child = spawn(process.execPath, [bundle], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the bundle exited with ${child.exitCode}:\n${output}`);
      if (Date.now() > deadline) throw new Error(`the bundle did not answer within 30 s:\n${output}`);
      try {
        if ((await fetch(`${base}/readyz`)).ok) break;
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 60_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child!.once('exit', r));
    }
    await store?.cleanup();
  });

  it('issues an ID token at loa2 with amr pwd + otp + mfa, signed with its published keys', async () => {
    const tokens = await signIn(target, user, new Map(), { twoFactor: true });
    const discovery = (await (await fetch(`${target.base}/.well-known/openid-configuration`)).json()) as { jwks_uri: string };
    const jwks = createRemoteJWKSet(new URL(discovery.jwks_uri));
    const { payload } = await jwtVerify(tokens.id_token!, jwks, { issuer: target.base, audience: target.clientId });
    expect(payload.acr).toBe('loa2');
    expect([...(payload.amr as string[])].sort()).toEqual(['mfa', 'otp', 'pwd']);
    // Nothing went wrong on the way that the pages hid (a module that failed to load would be logged).
    expect(output).not.toMatch(/"level":(50|60)|Cannot find module/);
  });
});
