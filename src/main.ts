/** Process entry: config → stores → app → listen; graceful shutdown on SIGINT/SIGTERM. */
import cluster from 'node:cluster';
import { performance } from 'node:perf_hooks';
import { ConfigError, loadConfig } from './config/index.js';
import { startServer } from './server.js';
import { demoAllowed, seedDemo } from './seed.js';
import { runPrimary } from './cluster.js';

async function main() {
  const t0 = performance.now();
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`stepwise: configuration error: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  // Config is loaded (and an embedded secrets file created) once in the primary, before any worker starts.
  if (config.webConcurrency > 1 && cluster.isPrimary) {
    runPrimary(config.webConcurrency, (msg) => console.error(`stepwise: ${msg}`));
    console.error(`stepwise: ${config.webConcurrency} workers on port ${config.port} (WEB_CONCURRENCY)`);
    return;
  }
  const running = await startServer(config);
  const { log } = running.container;
  if (demoAllowed(config)) {
    const banner = await seedDemo(running.container);
    if (banner) console.log(banner);
  } else if (config.demo) {
    log.info('demo user and client not seeded: only with the embedded SQLite store and a loopback ISSUER');
  }
  const store = config.database.client === 'pg' ? 'PostgreSQL' : `SQLite (${config.database.filename})`;
  log.info(
    { issuer: config.issuer, store, redis: Boolean(config.redisUrl), startupMs: Math.round(performance.now() - t0) },
    `Stepwise ready on port ${config.port}: discovery at ${config.issuer}/.well-known/openid-configuration`,
  );
  let stopping = false;
  const stop = async (signal: string) => {
    // A second signal while draining ends the process at once.
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down: finishing in-flight requests, then closing the stores');
    await running.close({ drainMs: 10_000 });
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: unknown) => {
  // The cause too: a store error's public message ("temporarily unavailable") alone does not say which or why.
  const cause = (err as Error).cause instanceof Error ? ` (${((err as Error).cause as Error).message})` : '';
  console.error(`stepwise: failed to start: ${(err as Error).message}${cause}`);
  process.exit(1);
});
