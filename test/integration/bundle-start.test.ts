/**
 * `npm start` runs dist/src/main.bundle.js (scripts/bundle.mjs folds the compiled server into one module).
 * This starts that file as a user would, on a fresh embedded database: it must find its migrations, views
 * and locales from its new place, seed the demo, and answer discovery, the demo page and a rejected authorization request.
 * The bundle is made by `npm run build` (which `npm ci` runs through `prepare`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/paths.js';
import { freePort } from '../helpers/server.js';

const bundle = join(PROJECT_ROOT, 'dist/src/main.bundle.js');

describe('the bundled server (npm start)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stepwise-bundle-'));
  let child: ChildProcess | undefined;
  let output = '';
  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child!.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts on a fresh SQLite file, migrates, seeds the demo and serves the protocol and the pages', async () => {
    expect(existsSync(bundle), `${bundle} is missing: run npm run build`).toBe(true);
    // A bundle older than the compiled entry it was made from would test stale code.
    expect(statSync(bundle).mtimeMs).toBeGreaterThanOrEqual(statSync(join(PROJECT_ROOT, 'dist/src/main.js')).mtimeMs);
    // ASCII only (scripts/bundle.mjs): V8 then keeps the source text it holds at one byte per character.
    expect(readFileSync(bundle, 'latin1')).not.toMatch(/[^\x00-\x7f]/);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, [bundle], {
      cwd: dir,
      env: {
        PATH: process.env.PATH,
        PORT: String(port),
        HOST: '127.0.0.1',
        ISSUER: base,
        DATABASE_URL: join(dir, 'stepwise.sqlite'),
        LOG_LEVEL: 'info',
        STEPWISE_COOKIE_KEYS: 'bundle-test-cookie-key-0123456789abcdef0123',
        STEPWISE_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 30_000;
    let discovery: { issuer?: string } | undefined;
    // Listening comes before the demo seed and the ready line: wait for both.
    while (!(discovery && /Stepwise ready on port/.test(output)) && Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`the bundle exited with ${child.exitCode}:\n${output}`);
      try {
        const r = await fetch(`${base}/.well-known/openid-configuration`);
        if (r.ok) discovery ??= (await r.json()) as typeof discovery;
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(discovery?.issuer, output).toBe(base);
    expect(output).toMatch(/Stepwise ready on port/);

    // The demo is seeded (migrations ran from dist/migrations) and its page renders; the engine's error page
    // renders through our view.
    const demo = await fetch(`${base}/demo`);
    expect(demo.status).toBe(200);
    const login = await fetch(`${base}/auth?client_id=nonexistent-client&response_type=code&scope=openid&redirect_uri=${encodeURIComponent('https://x.test/cb')}`, { redirect: 'manual' });
    expect(login.status).toBe(400); // an unknown client: the engine's error page, rendered by our view
    expect(await login.text()).toMatch(/invalid_client|client is invalid/i);
  }, 60_000);
});
