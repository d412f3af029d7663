/** Starts a real Stepwise server on a free port for a store setup. */
import { createServer } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type Running } from '../../src/server.js';
import type { ContainerOptions } from '../../src/container.js';
import type { StoreKind, StoreSetup } from './stores.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Writes a risk policy file (YAML) for STEPWISE_POLICY_FILE and returns its path. */
export function policyFile(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'stepwise-policy-'));
  const path = join(dir, 'policy.yaml');
  writeFileSync(path, yaml);
  return path;
}

export interface TestServer extends Running {
  stores: StoreSetup;
  env: Record<string, string>;
}

export async function startTestServer(
  kind: StoreKind,
  extraEnv: Record<string, string> = {},
  opts: Pick<ContainerOptions, 'now' | 'firebase'> = {},
): Promise<TestServer> {
  const stores = await kind.setup();
  const port = await freePort();
  const env = {
    NODE_ENV: 'test',
    PORT: String(port),
    HOST: '127.0.0.1',
    ISSUER: `http://localhost:${port}`,
    LOG_LEVEL: 'silent',
    STEPWISE_DEMO: 'false',
    ...stores.env,
    ...extraEnv,
  };
  const running = await startServer(loadConfig(env), opts);
  return {
    ...running,
    stores,
    env,
    async close(opts?: { drainMs?: number }) {
      await running.close(opts);
      await stores.cleanup();
    },
  };
}
