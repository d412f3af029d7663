/**
 * Benchmarks (npm run bench). Prints figures; asserts nothing. Measures on the built server (dist/):
 *  - start-up time to ready (empty database: migrations + key generation + seed; then a warm restart)
 *  - idle RSS after start
 *  - password sign-in latency (full code flow: /auth → login page → POST password → callback → /token)
 *  - refresh-token grant latency
 * Store: SQLite by default; BENCH_DATABASE_URL / BENCH_REDIS_URL select PostgreSQL + Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const root = resolve(fileURLToPath(import.meta.url), '../../..');
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 40);
const DEMO = { email: 'demo@stepwise.test', password: 'correct horse battery staple', clientId: 'demo-client', secret: 'demo-client-secret-change-me' };

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

async function start(env: NodeJS.ProcessEnv, port: number): Promise<{ child: ChildProcess; ms: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [join(root, 'dist/src/main.js')], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`);
      if (r.ok) return { child, ms: performance.now() - t0 };
    } catch {
      /* not up yet */
    }
    if (child.exitCode !== null) throw new Error('server exited during start-up');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function stop(child: ChildProcess) {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
}

const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

class Jar {
  private cookies = new Map<string, { value: string; path: string }>();
  header(path: string) {
    return [...this.cookies.entries()].filter(([, c]) => path.startsWith(c.path)).map(([k, c]) => `${k.split('|')[0]}=${c.value}`).join('; ');
  }
  store(res: Response) {
    for (const h of res.headers.getSetCookie()) {
      const [pair, ...attrs] = h.split(';').map((s) => s.trim());
      const [name, ...v] = pair!.split('=');
      const path = attrs.find((a) => a.toLowerCase().startsWith('path='))?.slice(5) ?? '/';
      this.cookies.set(`${name}|${path}`, { value: v.join('='), path });
    }
  }
}

async function signIn(base: string): Promise<{ ms: number; refresh: string }> {
  const jar = new Jar();
  const verifier = randomBytes(32).toString('base64url');
  const q = new URLSearchParams({
    client_id: DEMO.clientId, response_type: 'code', scope: 'openid offline_access', prompt: 'consent',
    redirect_uri: `${base}/demo/callback`, state: 's', nonce: 'n', code_challenge_method: 'S256',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
  });
  const t0 = performance.now();
  let url = `${base}/auth?${q}`;
  let method = 'GET';
  let body: string | undefined;
  for (let i = 0; i < 12; i++) {
    const u = new URL(url);
    const res = await fetch(u, { method, body, redirect: 'manual', headers: { cookie: jar.header(u.pathname), accept: 'text/html', ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) } });
    jar.store(res);
    if (res.status >= 300 && res.status < 400) {
      url = new URL(res.headers.get('location')!, u).toString();
      method = 'GET';
      body = undefined;
      if (url.includes('/demo/callback')) break;
      continue;
    }
    const html = await res.text();
    const action = /action="(\/interaction\/[^"]+\/login)"/.exec(html)?.[1];
    if (!action) throw new Error(`unexpected page ${res.status} ${url}`);
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
    url = `${base}${action}`;
    method = 'POST';
    body = new URLSearchParams({ email: DEMO.email, password: DEMO.password, csrf }).toString();
  }
  const code = new URL(url).searchParams.get('code');
  if (!code) throw new Error(`no code in ${url}`);
  const tok = await fetch(`${base}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${DEMO.clientId}:${DEMO.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: `${base}/demo/callback`, code_verifier: verifier }),
  });
  const json = (await tok.json()) as { id_token?: string; refresh_token?: string };
  if (!json.id_token) throw new Error('no id_token');
  return { ms: performance.now() - t0, refresh: json.refresh_token! };
}

function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return `p50 ${q(0.5).toFixed(1)} ms · p95 ${q(0.95).toFixed(1)} ms · min ${s[0]!.toFixed(1)} · max ${s.at(-1)!.toFixed(1)} (n=${s.length})`;
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'stepwise-bench-'));
  const port = await freePort();
  const base = `http://localhost:${port}`;
  const env: NodeJS.ProcessEnv = {
    PORT: String(port), HOST: '127.0.0.1', ISSUER: base, LOG_LEVEL: 'warn', NODE_ENV: 'development', STEPWISE_DEMO: 'true',
    DATABASE_URL: process.env.BENCH_DATABASE_URL ?? join(dir, 'bench.sqlite'),
    ...(process.env.BENCH_REDIS_URL ? { REDIS_URL: process.env.BENCH_REDIS_URL, REDIS_PREFIX: `bench${randomBytes(4).toString('hex')}:` } : {}),
    STEPWISE_COOKIE_KEYS: randomBytes(32).toString('base64url'), STEPWISE_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  };
  const store = process.env.BENCH_DATABASE_URL ? 'PostgreSQL + Redis' : 'SQLite (embedded)';
  console.log(`Stepwise benchmarks — ${store}, Node ${process.version}, ${ITERATIONS} iterations`);
  try {
    const cold = await start(env, port);
    console.log(`start-up to ready, empty database:   ${cold.ms.toFixed(0)} ms`);
    await new Promise((r) => setTimeout(r, 1500));
    console.log(`idle RSS after start-up:             ${rssMiB(cold.child.pid!).toFixed(1)} MiB`);
    await stop(cold.child);
    const warm = await start(env, port);
    console.log(`start-up to ready, existing data:    ${warm.ms.toFixed(0)} ms`);
    await signIn(base); // warm-up
    const logins: number[] = [];
    let refresh = '';
    for (let i = 0; i < ITERATIONS; i++) {
      const r = await signIn(base);
      logins.push(r.ms);
      refresh = r.refresh;
    }
    console.log(`password sign-in, full code flow:    ${stats(logins)}`);
    const refreshes: number[] = [];
    for (let i = 0; i < ITERATIONS; i++) {
      const t0 = performance.now();
      const res = await fetch(`${base}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${DEMO.clientId}:${DEMO.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh }),
      });
      refresh = ((await res.json()) as { refresh_token: string }).refresh_token;
      refreshes.push(performance.now() - t0);
    }
    console.log(`refresh_token grant (rotating):      ${stats(refreshes)}`);
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 20 }, () => signIn(base)));
    console.log(`20 concurrent sign-ins:              ${(performance.now() - t0).toFixed(0)} ms total`);
    console.log(`RSS after load:                      ${rssMiB(warm.child.pid!).toFixed(1)} MiB`);
    await stop(warm.child);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
