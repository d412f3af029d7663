/**
 * What the bench measures, from outside the server: CPU seconds of the server process only (utime + stime
 * from /proc/<pid>/stat — argon2 runs on libuv threads of the same process, so it is counted), RSS from
 * /proc/<pid>/status, and a bounded load runner (N concurrent workers, stops at a count or a time limit,
 * whichever comes first).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const CLOCK_TICKS_PER_SECOND = 100; // Linux USER_HZ

/** The process and its descendants (WEB_CONCURRENCY workers), from /proc/<pid>/task/<tid>/children. */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      for (const tid of readdirSync(`/proc/${out[i]}/task`)) {
        const kids = readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8').trim();
        if (kids) out.push(...kids.split(/\s+/).map(Number));
      }
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

const sumOver = (pid: number, one: (p: number) => number) =>
  processTree(pid).reduce((sum, p) => {
    try {
      return sum + one(p);
    } catch {
      return sum; // exited meanwhile
    }
  }, 0);

/** CPU seconds (user + system) of the server: the process and its workers. */
export function cpuSeconds(pid: number): number {
  return sumOver(pid, (p) => {
    const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  });
}

/** BENCH_STEP_THREAD=main: the per-step CPU figures count the event-loop thread only (argon2 runs elsewhere). */
const MAIN_THREAD_ONLY = process.env.BENCH_STEP_THREAD === 'main';

/**
 * CPU time of the server in nanoseconds, from /proc/<pid>/task/<tid>/schedstat (every thread: the event
 * loop, libuv's pool where argon2 runs, V8's GC helpers). Precise enough to charge one request at a time.
 */
export function cpuNs(pid: number): number {
  return sumOver(pid, (p) => {
    let ns = 0;
    for (const tid of MAIN_THREAD_ONLY ? [String(p)] : readdirSync(`/proc/${p}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${p}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        /* thread ended meanwhile */
      }
    }
    return ns;
  });
}

/** Resident memory of the server: the process and its workers. */
export function rssMiB(pid: number): number {
  return sumOver(pid, (p) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))![1]) / 1024);
}

export interface LoadResult {
  ops: number;
  wallSeconds: number;
  cpuSeconds: number;
  opsPerSecond: number;
  opsPerCpuSecond: number;
  cpuMsPerOp: number;
  peakRssMiB: number;
}

/**
 * How a scenario loads the server. `closed`: `concurrency` workers, each starting its next operation when
 * the last one ends (the maximum throughput). `paced`: operations start at a fixed rate whatever the
 * server's answers (an open loop, as real users arrive), `concurrency` of them at most in flight.
 */
export type LoadMode = ({ kind: 'closed'; concurrency: number } | { kind: 'paced'; perSecond: number; concurrency: number }) & {
  /** Fewer operations than the scenario's own bound. */
  maxOps?: number;
};

/**
 * Runs `op(i, worker)` until `maxOps` are done or `maxSeconds` have passed. `worker` is in [0, concurrency):
 * no two operations with the same worker number run at once.
 */
export async function runLoad(pid: number, opts: { mode: LoadMode; maxOps: number; maxSeconds: number }, op: (i: number, worker: number) => Promise<void>): Promise<LoadResult> {
  let next = 0;
  let done = 0;
  let peak = rssMiB(pid);
  const deadline = performance.now() + opts.maxSeconds * 1000;
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssMiB(pid));
  }, 200);
  const { mode } = opts;
  const maxOps = Math.min(opts.maxOps, mode.maxOps ?? Infinity);
  let failure: { err: unknown } | undefined;
  try {
    // allSettled, not all: a failed operation stops every worker, and none is left running into the next
    // measurement (it would be charged to it).
    await Promise.allSettled(
      Array.from({ length: mode.concurrency }, async (_, worker) => {
        while (!failure && next < maxOps && performance.now() < deadline) {
          const i = next;
          if (mode.kind === 'paced') {
            // Operation i is due at t0 + i / rate (none after the deadline); a worker that is late starts it at once.
            const due = t0 + (i * 1000) / mode.perSecond;
            if (due >= deadline) break;
            next++;
            if (due > performance.now()) await new Promise((r) => setTimeout(r, due - performance.now()));
          } else next++;
          try {
            await op(i, worker);
          } catch (err) {
            failure ??= { err };
            return;
          }
          done++;
        }
      }),
    );
  } finally {
    clearInterval(sampler);
  }
  if (failure) throw failure.err;
  const wallSeconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(pid) - cpu0;
  peak = Math.max(peak, rssMiB(pid));
  return {
    ops: done,
    wallSeconds,
    cpuSeconds: cpu,
    opsPerSecond: done / wallSeconds,
    opsPerCpuSecond: cpu > 0 ? done / cpu : Infinity,
    cpuMsPerOp: done > 0 ? (cpu * 1000) / done : NaN,
    peakRssMiB: peak,
  };
}

export function percentiles(xs: number[]): { p50: number; p95: number; p99: number; n: number } {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] ?? NaN;
  return { p50: q(0.5), p95: q(0.95), p99: q(0.99), n: s.length };
}
