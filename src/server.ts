/** Starts the HTTP server for a config: used by main.ts and by the integration tests. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './config/index.js';
import { buildContainer, type Container, type ContainerOptions } from './container.js';
import { createApp } from './app.js';
import { startRecoverySweep } from './recovery/service.js';
import { startMetricsServer } from './metrics/routes.js';

export interface Running {
  url: string;
  container: Container;
  server: Server;
  /** METRICS_PORT: where the separate /metrics listener is. */
  metricsUrl?: string;
  /**
   * Graceful stop: no new connections, in-flight requests finish (idle keep-alive connections close at
   * once), and after `drainMs` (default 10 s) whatever is still open is cut; then the stores close.
   */
  close(opts?: { drainMs?: number }): Promise<void>;
}

export async function startServer(config: Config, opts: ContainerOptions = {}): Promise<Running> {
  const container = await buildContainer(config, opts);
  const app = createApp(container);
  // Admin recoveries that became effective get their sign-in link mailed (src/recovery/service.ts).
  const stopRecoverySweep = startRecoverySweep(container);
  const server = createServer(app.callback());
  server.headersTimeout = 20_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const exposure = config.ops.metrics;
  const metricsServer =
    exposure.mode === 'port'
      ? await startMetricsServer(container.metrics, exposure).catch(async (err: unknown) => {
          server.close();
          await container.close();
          throw err;
        })
      : undefined;
  return {
    url: `http://localhost:${port}`,
    container,
    server,
    ...(metricsServer ? { metricsUrl: metricsServer.url } : {}),
    async close(opts = {}) {
      const drained = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, opts.drainMs ?? 10_000);
        timer.unref();
      });
      await Promise.race([drained, deadline]);
      clearTimeout(timer);
      server.closeAllConnections();
      await metricsServer?.close();
      stopRecoverySweep();
      await container.close();
    },
  };
}
