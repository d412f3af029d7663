/**
 * `npm run bench`: Stepwise side by side with bare oidc-provider (bench/perf/baseline-server.ts) in one run,
 * on the embedded SQLite store and — with BENCH_DATABASE_URL + BENCH_REDIS_URL — on PostgreSQL + Redis.
 * Identical scenarios against both, from the same load driver (bench/perf/driver.ts), each bounded in count
 * and time; rounds alternate the order of the two servers so drift on this shared machine hits both.
 * Prints a Markdown table and writes bench-results.json + bench-results.md (BENCH_OUT, default: cwd).
 *
 * Knobs: BENCH_WORKERS (scaling run, default 2; 1 skips it), BENCH_SCENARIOS (comma-separated name prefixes), BENCH_CPU_PROF (dir: CPU profiles and request windows of both servers), BENCH_TRACE (dir: store calls of each server, per request: bench/perf/trace-routes.ts), BENCH_STEP_THREAD=main (CPU per step of the event-loop thread only), BENCH_SECONDS (per scenario and round, default 6), BENCH_CONCURRENCY (8), BENCH_ROUNDS (2).
 * Loopback only. Asserts nothing: figures, not tests.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { hash } from '@node-rs/argon2';
import knexFactory from 'knex';
import { clientCredentials, introspect, refresh, signIn, userinfo, type BenchUser, type StepTimes, type Target, type Tokens } from './driver.js';
import { cpuNs, percentiles, rssMiB, runLoad, type LoadMode, type LoadResult } from './measure.js';
import { seedStepwise } from './seed-stepwise.js';

const root = resolve(fileURLToPath(import.meta.url), '../../../..');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2); // 1: skip the scaling figures
const TOTP_PER_ROUND = Number(process.env.BENCH_TOTP_USERS ?? 80);
const ARGON2 = { memoryCost: 19456, timeCost: 2, parallelism: 1 };
const argonEnv = { ARGON2_MEMORY_KIB: String(ARGON2.memoryCost), ARGON2_TIME_COST: String(ARGON2.timeCost), ARGON2_PARALLELISM: String(ARGON2.parallelism) };
const REDIRECT = 'http://127.0.0.1:9/callback';

interface Server {
  target: Target;
  child: ChildProcess;
  readyMs: number;
  idleRssMiB: number;
  env?: Record<string, string>;
}

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

/**
 * The node flags and entry file `npm start` runs Stepwise with (package.json), so that the bench measures
 * what users run. BENCH_STEPWISE_FLAGS overrides the flags for an A/B comparison ("none": no flags).
 */
function stepwiseLaunch(): { flags: string[]; script: string } {
  const start = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  const m = /\bnode((?:\s+--\S+)*)\s+(dist\/src\/\S+\.js)/.exec(start);
  if (!m) throw new Error(`bench: cannot find "node … dist/src/….js" in the start script: ${start}`);
  const override = process.env.BENCH_STEPWISE_FLAGS;
  const flags = override !== undefined ? (override === 'none' ? [] : override.split(/\s+/).filter(Boolean)) : m[1]!.trim().split(/\s+/).filter(Boolean);
  return { flags, script: join(root, m[2]!) };
}

const STEPWISE_LAUNCH = stepwiseLaunch();

async function spawnServer(script: string, env: NodeJS.ProcessEnv, base: string, nodeFlags: string[] = []): Promise<{ child: ChildProcess; readyMs: number }> {
  const t0 = performance.now();
  // BENCH_CPU_PROF=DIR: V8 CPU profiles of both servers (open in Chrome DevTools, or summarise with bench/perf/profile-summary.ts).
  // With them, each request's start and end (bench/perf/request-windows.ts), to cut a profile down to one route (profile-windows.ts).
  const profDir = process.env.BENCH_CPU_PROF;
  if (profDir) mkdirSync(profDir, { recursive: true }); // the request windows are appended before V8 writes its profile
  const prof = profDir
    ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--import', pathToFileURL(join(root, 'dist/bench/perf/request-windows.js')).href]
    : [];
  // BENCH_TRACE=DIR: every SQL statement and Redis command of each server, one line each (bench/perf/trace-statements.ts).
  const traceDir = process.env.BENCH_TRACE;
  if (traceDir) mkdirSync(traceDir, { recursive: true });
  const trace = traceDir ? ['--import', pathToFileURL(join(root, 'dist/bench/perf/trace-statements.js')).href] : [];
  const traceEnv = traceDir ? { BENCH_TRACE_OUT: join(traceDir, `${basename(script, '.js')}-${new URL(base).port}.log`) } : {};
  const child = spawn(process.execPath, [...nodeFlags, ...prof, ...trace, script], {
    env: { ...process.env, ...env, ...traceEnv, ...(profDir ? { BENCH_WINDOWS_DIR: profDir } : {}) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${script} exited during start-up`);
    try {
      if ((await fetch(`${base}/.well-known/openid-configuration`)).ok) return { child, readyMs: performance.now() - t0 };
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function stop(child: ChildProcess) {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
}

interface StoreEnv {
  label: string;
  stepwise: Record<string, string>;
  baseline: Record<string, string>;
  cleanup(): Promise<void>;
}

async function storeEnvs(dir: string): Promise<StoreEnv[]> {
  const out: StoreEnv[] = [
    {
      label: 'SQLite (embedded)',
      stepwise: { DATABASE_URL: join(dir, 'stepwise.sqlite') },
      baseline: { DATABASE_URL: join(dir, 'baseline.sqlite') },
      cleanup: async () => undefined,
    },
  ];
  const pg = process.env.BENCH_DATABASE_URL;
  const redis = process.env.BENCH_REDIS_URL;
  if (pg && redis) {
    const names = [`stepwise_bench_${randomBytes(4).toString('hex')}`, `baseline_bench_${randomBytes(4).toString('hex')}`];
    const admin = knexFactory({ client: 'pg', connection: pg, pool: { min: 0, max: 1 } });
    for (const n of names) await admin.raw(`create database ${n}`);
    await admin.destroy();
    const dbUrl = (n: string) => Object.assign(new URL(pg), { pathname: `/${n}` }).toString();
    const prefix = randomBytes(4).toString('hex');
    out.push({
      label: 'PostgreSQL + Redis',
      stepwise: { DATABASE_URL: dbUrl(names[0]!), REDIS_URL: redis, REDIS_PREFIX: `sb${prefix}:` },
      baseline: { DATABASE_URL: dbUrl(names[1]!), REDIS_URL: redis, REDIS_PREFIX: `bb${prefix}:` },
      async cleanup() {
        const a = knexFactory({ client: 'pg', connection: pg, pool: { min: 0, max: 1 } });
        for (const n of names) await a.raw(`drop database if exists ${n} with (force)`);
        await a.destroy();
      },
    });
  }
  return out;
}

/** Bench users; the TOTP users' secrets are set when Stepwise enrolls them (seedStepwise). */
function makeUsers(passwordUsers: number, totpUsers: number): { password: BenchUser[]; totp: BenchUser[] } {
  const mk = (i: number, kind: string): BenchUser => ({ email: `${kind}${i}@bench.test`, password: `bench-${randomBytes(9).toString('base64url')}` });
  return {
    password: Array.from({ length: passwordUsers }, (_, i) => mk(i, 'pwd')),
    totp: Array.from({ length: totpUsers }, (_, i) => mk(i, 'totp')),
  };
}

async function startBaseline(env: Record<string, string>, users: { password: BenchUser[]; totp: BenchUser[] }, dir: string): Promise<Server> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const target: Target = { name: 'bare oidc-provider', base, clientId: 'bench-client', clientSecret: randomBytes(24).toString('base64url'), redirectUri: REDIRECT, twoFactorParams: {} };
  const all = [...users.password, ...users.totp];
  const seedFile = join(dir, `baseline-seed-${port}.json`);
  const seeded = await Promise.all(all.map(async (u, i) => ({ id: `u${i}`, email: u.email, passwordHash: await hash(u.password, ARGON2), ...(u.totpSecret ? { totpSecret: u.totpSecret } : {}) })));
  writeFileSync(seedFile, JSON.stringify({ clientId: target.clientId, clientSecret: target.clientSecret, redirectUri: REDIRECT, users: seeded }));
  const { child, readyMs } = await spawnServer(join(root, 'dist/bench/perf/baseline-server.js'), { ...env, ...argonEnv, PORT: String(port), ISSUER: base, BASELINE_SEED: seedFile }, base);
  return { target, child, readyMs, idleRssMiB: 0 };
}

async function startStepwise(env: Record<string, string>, users: { password: BenchUser[]; totp: BenchUser[] }): Promise<Server> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const full: Record<string, string> = {
    ...env,
    ...argonEnv,
    PORT: String(port),
    HOST: '127.0.0.1',
    ISSUER: base,
    // As deployed: templates compiled once (development recompiles every view on every render). Production
    // mode itself needs an https issuer; `test` is production-like for everything the bench touches.
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    STEPWISE_DEMO: 'false',
    STEPWISE_COOKIE_KEYS: randomBytes(32).toString('base64url'),
    STEPWISE_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  };
  const client = await seedStepwise(full, users, REDIRECT);
  const { child, readyMs } = await spawnServer(STEPWISE_LAUNCH.script, full, base, STEPWISE_LAUNCH.flags);
  return { target: { name: 'Stepwise', base, ...client, redirectUri: REDIRECT, twoFactorParams: { acr_values: 'loa2' } }, child, readyMs, idleRssMiB: 0, env: full };
}

/** The same seeded Stepwise again, as WEB_CONCURRENCY workers on a new port (for the scaling figures). */
async function startStepwiseWorkers(one: Server, workers: number): Promise<Server> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = { ...one.env!, PORT: String(port), ISSUER: base, WEB_CONCURRENCY: String(workers) };
  const { child, readyMs } = await spawnServer(STEPWISE_LAUNCH.script, env, base, STEPWISE_LAUNCH.flags);
  return { target: { ...one.target, name: `Stepwise ×${workers}`, base }, child, readyMs, idleRssMiB: 0, env };
}

interface ScenarioResult {
  load: LoadResult;
  steps: Record<string, ReturnType<typeof percentiles>>;
  error?: string;
}

/** One pass of a scenario against one server: its load figures and per-step percentiles, or what failed. */
async function measured(run: (times: StepTimes) => Promise<LoadResult>): Promise<ScenarioResult> {
  const times: StepTimes = new Map();
  try {
    const load = await run(times);
    return { load, steps: Object.fromEntries([...times].map(([k, v]) => [k, percentiles(v)])) };
  } catch (err) {
    const load = { ops: 0, wallSeconds: 0, cpuSeconds: 0, opsPerSecond: NaN, opsPerCpuSecond: NaN, cpuMsPerOp: NaN, peakRssMiB: NaN };
    return { load, steps: {}, error: (err as Error).message.slice(0, 300) };
  }
}

type Scenario = { name: string; run(s: Server, round: number, times: StepTimes, mode: LoadMode): Promise<LoadResult> };

const FULL_LOAD: LoadMode = { kind: 'closed', concurrency: CONCURRENCY };
const STEP_CPU_OPS = Number(process.env.BENCH_STEP_CPU_OPS ?? 30);
/** Rounds of TOTP users: the measured rounds, the half-load pass and the per-step CPU pass. */
const TOTP_ROUNDS = ROUNDS + 2;

const load = (s: Server, mode: LoadMode, maxOps: number, op: (i: number, worker: number) => Promise<void>) =>
  runLoad(s.child.pid!, { mode, maxOps, maxSeconds: SECONDS }, op);

function scenarios(users: { password: BenchUser[]; totp: BenchUser[] }): Scenario[] {
  const pwd = (i: number) => users.password[i % users.password.length]!;
  return [
    { name: 'sign-in (password)', run: (s, _r, t, mode) => load(s, mode, 100_000, async (i) => void (await signIn(s.target, pwd(i), t))) },
    {
      // TOTP codes are single-use per 30 s step: every sign-in of a round uses its own user.
      name: 'sign-in (password + TOTP)',
      run: (s, r, t, mode) => load(s, mode, TOTP_PER_ROUND, async (i) => void (await signIn(s.target, users.totp[r * TOTP_PER_ROUND + i]!, t, { twoFactor: true }))),
    },
    {
      // One rotating chain per worker: a chain is never refreshed by two requests at once (that is reuse).
      name: 'refresh_token grant (rotating)',
      async run(s, _r, t, mode) {
        const chains: Tokens[] = [];
        for (let w = 0; w < mode.concurrency; w++) chains.push(await signIn(s.target, pwd(w), new Map(), { offline: true }));
        return load(s, mode, 1_000_000, async (_i, w) => {
          chains[w] = await refresh(s.target, chains[w]!.refresh_token!, t);
        });
      },
    },
    { name: 'client_credentials grant', run: (s, _r, t, mode) => load(s, mode, 1_000_000, async () => void (await clientCredentials(s.target, t))) },
    {
      name: 'userinfo',
      async run(s, _r, t, mode) {
        const tok = await signIn(s.target, pwd(0), new Map());
        return load(s, mode, 1_000_000, () => userinfo(s.target, tok.access_token, t));
      },
    },
    {
      name: 'introspection',
      async run(s, _r, t, mode) {
        const tok = await signIn(s.target, pwd(0), new Map());
        return load(s, mode, 1_000_000, () => introspect(s.target, tok.access_token, t));
      },
    },
  ];
}

interface StoreReport {
  store: string;
  servers: Record<string, { readyMs: number; idleRssMiB: number; loadRssMiB: number }>;
  scenarios: Array<{ name: string; results: Record<string, ScenarioResult[]> }>;
  /** Each server paced at half its own maximum throughput (the median of its full-load rounds). */
  halfLoad: Array<{ name: string; results: Record<string, ScenarioResult & { perSecond: number }> }>;
  /** Server CPU per step, one request at a time (mean ms over BENCH_STEP_CPU_OPS operations). */
  stepCpu: Array<{ name: string; results: Record<string, Record<string, number>> }>;
  scaling?: Array<{ scenario: string; workers: number; singleOpsPerSecond: number; multiOpsPerSecond: number; rssMiB: number }>;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? NaN;
const range = (xs: number[], digits = 1) => {
  const ok = xs.filter(Number.isFinite);
  if (!ok.length) return 'n/a';
  const lo = Math.min(...ok).toFixed(digits);
  const hi = Math.max(...ok).toFixed(digits);
  return lo === hi ? lo : `${lo} – ${hi}`;
};

async function benchStore(store: StoreEnv, dir: string): Promise<StoreReport> {
  const users = makeUsers(16, TOTP_PER_ROUND * TOTP_ROUNDS);
  const stepwise = await startStepwise(store.stepwise, users); // sets the TOTP secrets the baseline reuses
  const baseline = await startBaseline(store.baseline, users, dir);
  const servers = [stepwise, baseline];
  try {
    for (const s of servers) for (let i = 0; i < 5; i++) await signIn(s.target, users.password[i]!, new Map()); // warm-up
    await new Promise((r) => setTimeout(r, 1500));
    for (const s of servers) s.idleRssMiB = rssMiB(s.child.pid!);
    const report: StoreReport = { store: store.label, servers: {}, scenarios: [], halfLoad: [], stepCpu: [] };
    const peak = new Map<Server, number>();
    const only = process.env.BENCH_SCENARIOS?.split(',').map((x) => x.trim().toLowerCase());
    for (const sc of scenarios(users).filter((x) => !only || only.some((o) => x.name.toLowerCase().startsWith(o)))) {
      const results: Record<string, ScenarioResult[]> = { [stepwise.target.name]: [], [baseline.target.name]: [] };
      for (let round = 0; round < ROUNDS; round++) {
        for (const s of round % 2 === 0 ? servers : [...servers].reverse()) {
          const result = await measured((times) => sc.run(s, round, times, FULL_LOAD));
          if (!result.error) peak.set(s, Math.max(peak.get(s) ?? 0, result.load.peakRssMiB));
          results[s.target.name]!.push(result);
        }
      }
      report.scenarios.push({ name: sc.name, results });
      const line = (n: string) => range(results[n]!.map((r) => r.load.opsPerCpuSecond));
      console.log(`  ${sc.name.padEnd(32)} Stepwise ${line(stepwise.target.name).padEnd(16)} engine ${line(baseline.target.name)} ops/CPU-s`);
      report.halfLoad.push({ name: sc.name, results: await halfLoad(sc, servers, results) });
      report.stepCpu.push({ name: sc.name, results: await stepCpu(sc, servers) });
    }
    for (const s of servers) report.servers[s.target.name] = { readyMs: s.readyMs, idleRssMiB: s.idleRssMiB, loadRssMiB: peak.get(s) ?? NaN };
    if (WORKERS > 1) report.scaling = await scaling(stepwise, users, report);
    return report;
  } finally {
    for (const s of servers) await stop(s.child);
  }
}

/**
 * Latency at half the maximum throughput: each server paced (open loop) at half of its own full-load rate,
 * with room for four times the usual number of requests in flight, so that queueing shows in the tail.
 */
async function halfLoad(sc: Scenario, servers: Server[], full: Record<string, ScenarioResult[]>): Promise<StoreReport['halfLoad'][number]['results']> {
  const out: StoreReport['halfLoad'][number]['results'] = {};
  for (const s of servers) {
    const perSecond = median(full[s.target.name]!.filter((x) => !x.error).map((x) => x.load.opsPerSecond)) / 2;
    if (!(perSecond > 0)) continue;
    const result = await measured((times) => sc.run(s, ROUNDS, times, { kind: 'paced', perSecond, concurrency: CONCURRENCY * 4 }));
    out[s.target.name] = { perSecond, ...result };
  }
  return out;
}

/** Where the CPU goes: one request at a time, each charged the server's CPU time between its start and its answer. */
async function stepCpu(sc: Scenario, servers: Server[]): Promise<Record<string, Record<string, number>>> {
  const out: Record<string, Record<string, number>> = {};
  for (const s of servers) {
    const spent: StepTimes = new Map();
    const probe: Server = { ...s, target: { ...s.target, stepCpu: { now: () => cpuNs(s.child.pid!), spent } } };
    try {
      const own: StepTimes = new Map();
      await sc.run(probe, ROUNDS + 1, own, { kind: 'closed', concurrency: 1, maxOps: STEP_CPU_OPS });
      // Only the scenario's own steps: a refresh scenario's set-up sign-ins are not what it measures.
      out[s.target.name] = Object.fromEntries([...spent].filter(([step]) => own.has(step)).map(([step, ms]) => [step, ms.reduce((a, b) => a + b, 0) / ms.length]));
    } catch {
      /* the full-load rounds already report the error */
    }
  }
  return out;
}

/**
 * 1 → WORKERS worker processes: throughput (operations per wall-clock second, the driver at the same
 * concurrency) of the CPU-bound scenarios, against the single-process figures of the same run.
 */
async function scaling(one: Server, users: { password: BenchUser[]; totp: BenchUser[] }, report: StoreReport): Promise<StoreReport['scaling']> {
  const multi = await startStepwiseWorkers(one, WORKERS);
  try {
    for (let i = 0; i < 3; i++) await signIn(multi.target, users.password[i]!, new Map()); // warm-up (spreads over workers)
    const out: NonNullable<StoreReport['scaling']> = [];
    for (const sc of scenarios(users).filter((x) => x.name.startsWith('sign-in (password)') || x.name.startsWith('refresh'))) {
      if (sc.name.includes('TOTP')) continue;
      const load = await sc.run(multi, 0, new Map(), FULL_LOAD);
      const single = report.scenarios.find((x) => x.name === sc.name)?.results['Stepwise']?.map((r) => r.load.opsPerSecond) ?? [];
      out.push({ scenario: sc.name, workers: WORKERS, singleOpsPerSecond: median(single), multiOpsPerSecond: load.opsPerSecond, rssMiB: load.peakRssMiB });
      console.log(`  ${sc.name.padEnd(32)} 1 worker ${median(single).toFixed(1)} ops/s → ${WORKERS} workers ${load.opsPerSecond.toFixed(1)} ops/s`);
    }
    return out;
  } finally {
    await stop(multi.child);
  }
}

function markdown(reports: StoreReport[], meta: Record<string, string>): string {
  const lines: string[] = [];
  lines.push(`Benchmark of ${meta.commit} on ${meta.date} — ${meta.machine}; Node ${process.version}; ${CONCURRENCY} concurrent clients, ${SECONDS} s × ${ROUNDS} rounds per scenario; argon2id m=${ARGON2.memoryCost} t=${ARGON2.timeCost} p=${ARGON2.parallelism}. Ranges are over rounds.`, '');
  for (const r of reports) {
    lines.push(`### ${r.store}`, '', '| scenario | Stepwise ops per server CPU-s | bare engine ops per CPU-s | ratio | Stepwise CPU ms/op | engine CPU ms/op |', '|---|---|---|---|---|---|');
    for (const sc of r.scenarios) {
      const sw = sc.results['Stepwise']!;
      const en = sc.results['bare oidc-provider']!;
      const ratios = sw.map((x, i) => x.load.opsPerCpuSecond / (en[i]?.load.opsPerCpuSecond ?? NaN));
      const err = [...sw, ...en].find((x) => x.error)?.error;
      lines.push(`| ${sc.name} | ${range(sw.map((x) => x.load.opsPerCpuSecond))} | ${range(en.map((x) => x.load.opsPerCpuSecond))} | ${range(ratios, 2)} | ${range(sw.map((x) => x.load.cpuMsPerOp), 2)} | ${range(en.map((x) => x.load.cpuMsPerOp), 2)} |${err ? ` ⚠ ${err.replace(/\|/g, '/')}` : ''}`);
    }
    lines.push('', '| | Stepwise | bare engine |', '|---|---|---|');
    const s = r.servers['Stepwise']!;
    const e = r.servers['bare oidc-provider']!;
    lines.push(`| ready after \`node\` starts | ${(s.readyMs / 1000).toFixed(2)} s | ${(e.readyMs / 1000).toFixed(2)} s |`);
    lines.push(`| idle RSS (after warm-up) | ${s.idleRssMiB.toFixed(0)} MiB | ${e.idleRssMiB.toFixed(0)} MiB |`);
    lines.push(`| peak RSS under load | ${s.loadRssMiB.toFixed(0)} MiB | ${e.loadRssMiB.toFixed(0)} MiB |`);
    lines.push('', 'Stepwise latency per step (ms, median over rounds of p50 / p95 / p99):', '', '| scenario | step | p50 | p95 | p99 |', '|---|---|---|---|---|');
    for (const sc of r.scenarios) {
      const rounds = sc.results['Stepwise']!.filter((x) => !x.error);
      const steps = new Set(rounds.flatMap((x) => Object.keys(x.steps)));
      for (const step of steps) {
        const pick = (k: 'p50' | 'p95' | 'p99') => median(rounds.map((x) => x.steps[step]?.[k] ?? NaN)).toFixed(1);
        lines.push(`| ${sc.name} | ${step} | ${pick('p50')} | ${pick('p95')} | ${pick('p99')} |`);
      }
    }
    const sName = 'Stepwise';
    const eName = 'bare oidc-provider';
    lines.push('', `Latency at half the maximum throughput (each server paced at half its own full-load rate, up to ${CONCURRENCY * 4} requests in flight; ms):`, '', '| scenario | step | Stepwise ops/s | Stepwise p50 / p99 | engine ops/s | engine p50 / p99 |', '|---|---|---|---|---|---|');
    for (const h of r.halfLoad) {
      const sw = h.results[sName];
      const en = h.results[eName];
      const steps = new Set([...Object.keys(sw?.steps ?? {}), ...Object.keys(en?.steps ?? {})]);
      const cell = (x: typeof sw, step: string) => (x?.steps[step] ? `${x.steps[step]!.p50.toFixed(1)} / ${x.steps[step]!.p99.toFixed(1)}` : x?.error ? `⚠ ${x.error.replace(/\|/g, '/').slice(0, 80)}` : 'n/a');
      const rate = (x: typeof sw) => (x ? `${x.load.opsPerSecond.toFixed(1)} of ${x.perSecond.toFixed(1)}` : 'n/a');
      for (const step of steps) lines.push(`| ${h.name} | ${step} | ${rate(sw)} | ${cell(sw, step)} | ${rate(en)} | ${cell(en, step)} |`);
      if (steps.size === 0 && (sw?.error || en?.error)) lines.push(`| ${h.name} | — | ${rate(sw)} | ${cell(sw, '')} | ${rate(en)} | ${cell(en, '')} |`);
    }
    lines.push('', `Server CPU per step, one request at a time (mean ms over up to ${STEP_CPU_OPS} operations; work a server does after answering is charged to the next step):`, '', '| scenario | step | Stepwise | engine | difference |', '|---|---|---|---|---|');
    for (const c of r.stepCpu) {
      const sw = c.results[sName] ?? {};
      const en = c.results[eName] ?? {};
      for (const step of new Set([...Object.keys(sw), ...Object.keys(en)])) {
        const f = (x: number | undefined) => (x === undefined ? 'n/a' : x.toFixed(2));
        const d = sw[step] !== undefined && en[step] !== undefined ? `${sw[step]! - en[step]! >= 0 ? '+' : ''}${(sw[step]! - en[step]!).toFixed(2)}` : 'n/a';
        lines.push(`| ${c.name} | ${step} | ${f(sw[step])} | ${f(en[step])} | ${d} |`);
      }
    }
    if (r.scaling?.length) {
      lines.push('', `Stepwise with WEB_CONCURRENCY workers (operations per wall-clock second, ${CONCURRENCY} concurrent clients; the load driver shares the machine):`, '', '| scenario | 1 worker | workers | scaling | RSS, all workers |', '|---|---|---|---|---|');
      for (const x of r.scaling) lines.push(`| ${x.scenario} | ${x.singleOpsPerSecond.toFixed(1)} | ${x.multiOpsPerSecond.toFixed(1)} (×${x.workers}) | ${(x.multiOpsPerSecond / x.singleOpsPerSecond).toFixed(2)} | ${x.rssMiB.toFixed(0)} MiB |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'stepwise-bench-'));
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  };
  const meta = {
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    commit: git(['rev-parse', '--short', 'HEAD']),
    machine: `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}`,
    stepwiseNodeFlags: STEPWISE_LAUNCH.flags.join(' ') || 'none',
    stepwiseEntry: relative(root, STEPWISE_LAUNCH.script),
  };
  console.log(`Stepwise vs bare oidc-provider — ${meta.machine}, Node ${process.version}, commit ${meta.commit}, Stepwise: node ${meta.stepwiseNodeFlags} ${meta.stepwiseEntry}`);
  const envs = await storeEnvs(dir);
  const reports: StoreReport[] = [];
  try {
    for (const store of envs) {
      console.log(`\n${store.label}`);
      try {
        reports.push(await benchStore(store, dir));
      } finally {
        await store.cleanup();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const md = markdown(reports, meta);
  console.log(`\n${md}`); // first: the figures are on screen even if the files cannot be written
  const out = process.env.BENCH_OUT ?? process.cwd();
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'bench-results.json'), JSON.stringify({ ...meta, node: process.version, concurrency: CONCURRENCY, seconds: SECONDS, rounds: ROUNDS, argon2: ARGON2, reports }, null, 2));
  writeFileSync(join(out, 'bench-results.md'), md);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
