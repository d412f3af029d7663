/**
 * Issue 12 — the CLI's admin verbs over the admin service layer, on real stores: a service client created
 * with `clients create --service --scope stepwise:admin` gets a client_credentials token that the admin API
 * of a server on the same stores accepts; users, clients, approvals (four eyes with --admin), keys and
 * audit search/export; every write audited with the CLI's admin name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix, type StoreSetup } from '../helpers/stores.js';
import { freePort, policyFile } from '../helpers/server.js';
import { run, UsageError, type CliIo } from '../../src/cli/index.js';
import { loadConfig } from '../../src/config/index.js';
import { startServer } from '../../src/server.js';
import { accessToken, tokenResponse } from '../helpers/admin-api.js';

describe.each(storeMatrix)('stepwise admin CLI on $name', (kind) => {
  let stores: StoreSetup;
  const policy = policyFile('admin:\n  second_approval: [lower_client_minimum]\n');

  beforeAll(async () => {
    stores = await kind.setup();
  });
  afterAll(async () => stores?.cleanup());

  async function cliText(argv: string[], stdin = ''): Promise<string> {
    let written = '';
    const io: CliIo = { env: { ...stores.env, LOG_LEVEL: 'silent', STEPWISE_POLICY_FILE: policy }, readStdin: async () => stdin, write: (t) => (written += t) };
    await run(argv, io);
    return written;
  }
  const cli = async (argv: string[], stdin = ''): Promise<any> => JSON.parse(await cliText(argv, stdin));

  it('clients create --service prints credentials that get an admin token; the admin API accepts it', async () => {
    await cli(['migrate']);
    const svc = await cli(['clients', 'create', '--service', '--scope', 'stepwise:admin', '--name', 'ops']);
    expect(svc).toEqual({ client_id: expect.any(String), client_secret: expect.any(String), client_name: 'ops', grant_types: ['client_credentials'], scope: 'stepwise:admin' });
    await expect(cli(['clients', 'create', '--service'])).rejects.toBeInstanceOf(UsageError);
    await expect(cli(['clients', 'create', '--service', '--scope', 'openid'])).rejects.toMatchObject({ code: 'invalid_form', field: 'scope' });
    const shown = await cli(['clients', 'show', svc.client_id]);
    expect(shown).toMatchObject({ service: true, redirect_uris: [], grant_types: ['client_credentials'], scope: 'stepwise:admin' });
    expect(JSON.stringify(shown)).not.toContain(svc.client_secret);

    const port = await freePort();
    const srv = await startServer(loadConfig({ ...stores.env, NODE_ENV: 'test', PORT: String(port), HOST: '127.0.0.1', ISSUER: `http://localhost:${port}`, LOG_LEVEL: 'silent' }));
    try {
      const creds = { clientId: svc.client_id, secret: svc.client_secret };
      const token = await accessToken({ url: srv.url } as never, creds, 'stepwise:admin');
      const res = await fetch(`${srv.url}/admin/api/clients/${svc.client_id}`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      // No authorization-code flow for a service client.
      const auth = await fetch(`${srv.url}/auth?client_id=${svc.client_id}&response_type=code&scope=openid&redirect_uri=https://x.example/cb`, { redirect: 'manual' });
      expect(auth.status).toBe(400);

      // rotate-secret with an overlap: both secrets authenticate for now.
      const rotated = await cli(['clients', 'rotate-secret', svc.client_id, '--overlap-seconds', '600', '--admin', 'alice']);
      expect(rotated.client_secret).not.toBe(svc.client_secret);
      expect((await tokenResponse({ url: srv.url } as never, creds, 'stepwise:admin')).status).toBe(200);
      expect((await tokenResponse({ url: srv.url } as never, { ...creds, secret: rotated.client_secret }, 'stepwise:admin')).status).toBe(200);
    } finally {
      await srv.close();
    }
  });

  it('users: list, show by email, disable/enable, reset-password, factors, sessions, devices — audited with --admin', async () => {
    const user = await cli(['users', 'create', '--email', 'cli-admin@example.com', '--name', 'Cli'], 'a long enough password');
    const listed = await cli(['users', 'list', '--q', 'cli-admin']);
    expect(listed.items.map((u: { id: string }) => u.id)).toEqual([user.id]);
    expect((await cli(['users', 'show', 'CLI-ADMIN@example.com'])).id).toBe(user.id);

    expect(await cli(['users', 'disable', 'cli-admin@example.com', '--admin', 'alice'])).toMatchObject({ id: user.id, disabled: true, sessions_ended: 0 });
    expect((await cli(['users', 'list', '--q', 'cli-admin', '--disabled'])).items).toHaveLength(1);
    expect(await cli(['users', 'enable', user.id])).toMatchObject({ disabled: false });

    expect(await cli(['users', 'reset-password', user.id, '--admin', 'alice'])).toMatchObject({ mode: 'email' });
    expect(await cli(['users', 'reset-password', user.id, '--forced'])).toMatchObject({ mode: 'forced' });

    expect(await cli(['users', 'factors', user.id])).toEqual({ user_id: user.id, factors: [] });
    expect(await cli(['users', 'sessions', user.id])).toEqual({ user_id: user.id, sessions: [] });
    expect(await cli(['users', 'devices', user.id])).toEqual({ user_id: user.id, devices: [] });
    expect(await cli(['users', 'end-sessions', user.id])).toEqual({ user_id: user.id, ended: 0 });
    expect(await cli(['users', 'forget-devices', user.id])).toEqual({ user_id: user.id, forgotten: 0 });
    expect(await cli(['users', 'remove-factor', user.id, '--all'])).toMatchObject({ status: 'applied', result: { removed: [] } });
    await expect(cli(['users', 'remove-factor', user.id])).rejects.toBeInstanceOf(UsageError);

    const events = await cli(['audit', 'search', '--user', user.id, '--type', 'user.*']);
    expect(events.items.map((e: { type: string; details: { actor?: string } }) => [e.type, e.details.actor])).toEqual([
      ['user.password.reset', 'cli'],
      ['user.password.reset', 'alice'],
      ['user.enabled', 'cli'],
      ['user.disabled', 'alice'],
      ['user.created', undefined],
    ]);
    const lines = (await cliText(['audit', 'export', '--user', user.id, '--type', 'user.*'])).trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((e) => e.seq)).toEqual(events.items.map((e: { seq: number }) => e.seq).reverse());
    await expect(cli(['audit', 'search', '--from', 'someday'])).rejects.toMatchObject({ code: 'invalid_form', field: 'from' });
  });

  it('four eyes from the CLI: a lowered minimum waits for a different --admin; the same admin cannot approve', async () => {
    const client = await cli(['clients', 'create', '--redirect-uri', 'https://app.example/cb']);
    expect(await cli(['clients', 'policy', client.client_id, '--min-acr', 'loa2'])).toEqual({ client_id: client.client_id, policy: { min_acr: 'loa2' } });
    await expect(cli(['clients', 'policy', client.client_id, '--min-acr', 'phr', '--allow-factors', 'totp'])).rejects.toMatchObject({ code: 'invalid_form', field: 'min_acr' });
    const held = await cli(['clients', 'policy', client.client_id, '--min-acr', 'loa1', '--admin', 'alice']);
    expect(held).toMatchObject({ status: 'pending', approval: { kind: 'lower_client_minimum', requested_by: 'alice' } });
    expect((await cli(['approvals', 'list', '--status', 'pending'])).items.map((a: { id: string }) => a.id)).toContain(held.approval.id);
    await expect(cli(['approvals', 'approve', held.approval.id, '--admin', 'alice'])).rejects.toMatchObject({ code: 'forbidden' });
    expect((await cli(['clients', 'show', client.client_id])).policy).toEqual({ min_acr: 'loa2' });
    expect(await cli(['approvals', 'approve', held.approval.id, '--admin', 'bob'])).toMatchObject({ status: 'executed', decided_by: 'bob' });
    expect((await cli(['clients', 'show', client.client_id])).policy).toEqual({ min_acr: 'loa1' });
    await expect(cli(['approvals', 'reject', held.approval.id, '--admin', 'carol'])).rejects.toMatchObject({ code: 'conflict' });
    await expect(cli(['approvals', 'list', '--status', 'soon'])).rejects.toMatchObject({ code: 'invalid_form', field: 'status' });

    const keys = await cli(['keys', 'list']);
    expect(keys.filter((k: { status: string }) => k.status === 'signing')).toHaveLength(1);
    expect(await cli(['clients', 'delete', client.client_id, '--admin', 'alice'])).toEqual({ client_id: client.client_id, deleted: true });
    await expect(cli(['clients', 'show', client.client_id])).rejects.toMatchObject({ code: 'not_found' });
  });
});
