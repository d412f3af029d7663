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

/** Runs `op(i, worker)` from `concurrency` workers until `maxOps` are done or `maxSeconds` have passed. */
export async function runLoad(pid: number, opts: { concurrency: number; maxOps: number; maxSeconds: number }, op: (i: number, worker: number) => Promise<void>): Promise<LoadResult> {
  let next = 0;
  let done = 0;
  let peak = rssMiB(pid);
  const deadline = performance.now() + opts.maxSeconds * 1000;
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssMiB(pid));
  }, 200);
  try {
    await Promise.all(
      Array.from({ length: opts.concurrency }, async (_, worker) => {
        while (next < opts.maxOps && performance.now() < deadline) {
          const i = next++;
          await op(i, worker);
          done++;
        }
      }),
    );
  } finally {
    clearInterval(sampler);
  }
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
