/**
 * Seeds the Stepwise side of the bench through the product's own service layer (no demo data): the bench
 * users (password; password + TOTP enrolled through the TOTP factor module), a first-party code-flow client
 * and a service client for client_credentials. Runs in the bench process against the same database the
 * server will use, then closes, so the server starts on a warm, migrated store.
 */
import { generateSync } from 'otplib';
import { loadConfig } from '../../src/config/index.js';
import { buildContainer } from '../../src/container.js';
import { createClient, createServiceClient, createUser } from '../../src/admin/service.js';
import type { BenchUser } from './driver.js';

export interface SeededClients {
  clientId: string;
  clientSecret: string;
  /** The service client for client_credentials. */
  cc?: { clientId: string; clientSecret: string; scope: string };
}

export async function seedStepwise(env: Record<string, string>, users: { password: BenchUser[]; totp: BenchUser[] }, redirectUri: string): Promise<SeededClients> {
  const config = loadConfig(env);
  const c = await buildContainer(config, { migrate: true });
  try {
    const deps = { config, users: c.users, clients: c.clients, hasher: c.hasher, audit: c.audit };
    for (const u of users.password) await createUser(deps, { email: u.email, password: u.password });
    for (const u of users.totp) {
      const created = await createUser(deps, { email: u.email, password: u.password });
      const ctx = { userId: created.id, userEmail: u.email, userName: null, scope: `bench-${created.id}`, now: Date.now() };
      const start = await c.factorService.registry.totp.startEnrollment(ctx, {});
      u.totpSecret = start.secret as string;
      await c.factorService.registry.totp.finishEnrollment(ctx, { factorId: start.factorId, code: generateSync({ secret: u.totpSecret, epoch: Math.floor(ctx.now / 1000) }) });
    }
    const client = (await createClient(deps, { redirectUris: [redirectUri], firstParty: true, name: 'Bench' })) as { client_id: string; client_secret?: string };
    return { clientId: client.client_id, clientSecret: client.client_secret!, cc: await serviceClient(deps) };
  } finally {
    await c.close();
  }
}

/** A client_credentials service client (read-only admin scope: the narrowest scope a service client may hold). */
async function serviceClient(deps: Parameters<typeof createClient>[0]): Promise<SeededClients['cc']> {
  const created = (await createServiceClient(deps, { scopes: ['stepwise:admin:read'], name: 'Bench service' })) as { client_id: string; client_secret?: string };
  return { clientId: created.client_id, clientSecret: created.client_secret!, scope: 'stepwise:admin:read' };
}
