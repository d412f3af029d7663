/**
 * WEB_CONCURRENCY > 1: this process becomes a node:cluster primary that forks that many workers; they share
 * the listening port (the primary hands out connections) and the stores, exactly like separate instances
 * behind a load balancer — there is no state between them but PostgreSQL/Redis (or the SQLite file). The
 * primary only supervises: a worker that dies unexpectedly is replaced (at most once per second, so a
 * worker that cannot start does not spin), and SIGTERM/SIGINT is passed on so each worker drains its
 * in-flight requests before the primary exits.
 */
import cluster from 'node:cluster';

export function runPrimary(workers: number, log: (msg: string) => void): void {
  let stopping = false;
  let lastFork = 0;
  const fork = () => {
    lastFork = Date.now();
    cluster.fork();
  };
  for (let i = 0; i < workers; i++) fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    log(`worker ${worker.process.pid} exited (${signal ?? code}); starting a replacement`);
    setTimeout(fork, Math.max(0, 1000 - (Date.now() - lastFork)));
  });
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1); // a second signal: do not wait
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill(signal);
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
