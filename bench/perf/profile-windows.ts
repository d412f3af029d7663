/**
 * The CPU profile of one route only: cuts a server's .cpuprofile (BENCH_CPU_PROF) down to the requests of
 * that route recorded in windows-<pid>.txt (bench/perf/request-windows.ts), counting only requests no other
 * request overlapped — the bench's one-at-a-time "CPU per step" phase — and skipping each route's first
 * three (cold caches, first compilation). Prints the event-loop thread's busy time per request and the
 * functions that spend it (self, and inclusive: a sample counts once for every distinct function on its stack).
 *   node dist/bench/perf/profile-windows.js FILE.cpuprofile                 (the routes and their counts)
 *   node dist/bench/perf/profile-windows.js FILE.cpuprofile "POST /interaction/:id/login" [top=30]
 * Profiling itself slows the process down (more with a short --cpu-prof-interval): compare functions with
 * each other, not these milliseconds with the bench's figures.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Window {
  route: string;
  start: number;
  end: number;
}

const [file, route, topArg] = process.argv.slice(2);
if (!file) throw new Error('usage: profile-windows.js FILE.cpuprofile ["METHOD /path"] [top]');
const pid = /\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(basename(file))?.[1];
const windowsFile = join(dirname(file), `windows-${pid}.txt`);
const all: Window[] = readFileSync(windowsFile, 'utf8')
  .trim()
  .split('\n')
  .map((line) => {
    const parts = line.split(' ');
    return { route: `${parts[0]} ${parts[1]}`, start: Number(parts[2]), end: Number(parts[3]) };
  })
  .sort((a, b) => a.start - b.start);
// Alone: no other request started before this one ended, nor was still running when it started.
let latestEnd = -Infinity;
const alone = all.filter((w, i) => {
  const ok = w.start > latestEnd && (i === all.length - 1 || all[i + 1]!.start > w.end);
  latestEnd = Math.max(latestEnd, w.end);
  return ok;
});
const seen = new Map<string, number>();
const warm = alone.filter((w) => {
  const n = (seen.get(w.route) ?? 0) + 1;
  seen.set(w.route, n);
  return n > 3;
});

if (!route) {
  console.log(`requests answered one at a time (after each route's first three), from ${basename(windowsFile)}:`);
  const counts = new Map<string, number>();
  for (const w of warm) counts.set(w.route, (counts.get(w.route) ?? 0) + 1);
  for (const [r, n] of [...counts].sort((a, b) => b[1] - a[1])) console.log(`${String(n).padStart(6)}  ${r}`);
  process.exit(0);
}

const windows = warm.filter((w) => w.route === route);
if (windows.length === 0) throw new Error(`no request of ${route} was answered alone; run without a route to list them`);
const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number };
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const where = (url: string) =>
  /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? /dist\/((?:src|bench)\/[^?]+)/.exec(url)?.[1] ?? (url.startsWith('node:') ? url : url.split('/').slice(-2).join('/'));
const label = (n: Node) => `${n.callFrame.functionName || '(anonymous)'} ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;

const self = new Map<string, number>();
const inclusive = new Map<string, number>();
let busy = 0;
let t = prof.startTime;
let w = 0;
for (let i = 0; i < prof.samples.length && w < windows.length; i++) {
  t += prof.timeDeltas[i] ?? 0;
  while (w < windows.length && windows[w]!.end < t) w++;
  if (w >= windows.length || t < windows[w]!.start) continue;
  const node = byId.get(prof.samples[i]!)!;
  if (node.callFrame.functionName === '(idle)') continue;
  const dt = prof.timeDeltas[i + 1] ?? 0; // a sample stands for the interval until the next one
  busy += dt;
  self.set(label(node), (self.get(label(node)) ?? 0) + dt);
  const counted = new Set<string>();
  for (let cur: number | undefined = node.id; cur !== undefined; cur = parent.get(cur)) {
    const key = label(byId.get(cur)!);
    if (key.startsWith('(root)') || counted.has(key)) continue;
    counted.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + dt);
  }
}

const top = Number(topArg ?? 30);
const perRequest = (us: number) => (us / windows.length / 1000).toFixed(3).padStart(7);
console.log(`${route}: ${windows.length} requests answered alone, event-loop thread busy ${perRequest(busy).trim()} ms per request (profiled)\n`);
console.log('self ms per request:');
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${perRequest(v)}  ${k}`);
console.log('\ninclusive ms per request:');
for (const [k, v] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top * 2)) console.log(`${perRequest(v)}  ${k}`);
