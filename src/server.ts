/** Starts the HTTP server for a config: used by main.ts and by the integration tests. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './config/index.js';
import { buildContainer, type Container, type ContainerOptions } from './container.js';
import { createApp } from './app.js';

export interface Running {
  url: string;
  container: Container;
  server: Server;
  close(): Promise<void>;
}

export async function startServer(config: Config, opts: ContainerOptions = {}): Promise<Running> {
  const container = await buildContainer(config, opts);
  const app = createApp(container);
  const server = createServer(app.callback());
  server.headersTimeout = 20_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://localhost:${port}`,
    container,
    server,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await container.close();
    },
  };
}
