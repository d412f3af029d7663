/** The `stepwise` CLI against real stores: JSON out, clear errors, same config as the server. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix, type StoreSetup } from '../helpers/stores.js';
import { run, UsageError, type CliIo } from '../../src/cli/index.js';
import { createDb } from '../../src/store/db.js';

describe.each(storeMatrix)('stepwise CLI on $name', (kind) => {
  let stores: StoreSetup;
  beforeAll(async () => {
    stores = await kind.setup();
  });
  afterAll(async () => stores?.cleanup());

  async function cli(argv: string[], stdin = ''): Promise<any> {
    let written = '';
    const io: CliIo = { env: { ...stores.env, LOG_LEVEL: 'silent' }, readStdin: async () => stdin, write: (t) => (written += t) };
    await run(argv, io);
    return JSON.parse(written);
  }

  it('migrates, creates users and clients, sets policy, rotates keys, verifies the audit chain', async () => {
    expect((await cli(['migrate'])).applied).toEqual(expect.arrayContaining(['20261123000001_initial']));
    expect(await cli(['migrate'])).toEqual({ applied: [] });

    const user = await cli(['users', 'create', '--email', 'Alice@Example.com', '--name', 'Alice'], 'a long enough password');
    expect(user).toMatchObject({ email: 'alice@example.com', name: 'Alice' });
    expect(user.id).toMatch(/^[0-9a-f-]{36}$/);

    const client = await cli(['clients', 'create', '--redirect-uri', 'https://app.example/cb', '--redirect-uri', 'https://app.example/cb2', '--first-party', '--name', 'App']);
    expect(client).toMatchObject({ client_name: 'App', redirect_uris: ['https://app.example/cb', 'https://app.example/cb2'], first_party: true, token_endpoint_auth_method: 'client_secret_basic' });
    expect(client.client_secret.length).toBeGreaterThanOrEqual(40);
    const pub = await cli(['clients', 'create', '--redirect-uri', 'com.example.app:/cb', '--public']);
    expect(pub.token_endpoint_auth_method).toBe('none');
    expect(pub).not.toHaveProperty('client_secret');

    const policy = await cli(['clients', 'policy', client.client_id, '--min-acr', 'loa2', '--allow-factors', 'totp,webauthn', '--max-age-seconds', '600']);
    expect(policy).toEqual({ client_id: client.client_id, policy: { min_acr: 'loa2', allowed_factors: ['totp', 'webauthn'], max_age_seconds: 600 } });

    const db = createDb(/^postgres/.test(stores.env.DATABASE_URL!) ? { client: 'pg', connection: stores.env.DATABASE_URL! } : { client: 'sqlite', filename: stores.env.DATABASE_URL! });
    try {
      // The client secret is encrypted at rest.
      const row = await db('clients').where({ client_id: client.client_id }).first();
      expect(JSON.stringify(row)).not.toContain(client.client_secret);
      const rotated = await cli(['keys', 'rotate']);
      expect(rotated.retired.length).toBeGreaterThanOrEqual(0);
      const keys = await db('signing_keys').select('kid', 'retired_at');
      expect(keys.find((k) => k.kid === rotated.kid)?.retired_at).toBeNull();
    } finally {
      await db.destroy();
    }
    expect(await cli(['audit', 'verify'])).toMatchObject({ intact: true, firstBrokenEvent: null });
  });

  it('rejects bad input with precise errors', async () => {
    await expect(cli(['users', 'create'])).rejects.toBeInstanceOf(UsageError);
    await expect(cli(['users', 'create', '--email', 'bob@example.com'], 'short')).rejects.toMatchObject({ code: 'invalid_form', field: 'password' });
    await expect(cli(['users', 'create', '--email', 'not-an-email'], 'a long enough password')).rejects.toMatchObject({ code: 'invalid_form', field: 'email' });
    await cli(['users', 'create', '--email', 'carol@example.com'], 'a long enough password');
    await expect(cli(['users', 'create', '--email', 'CAROL@example.com'], 'a long enough password')).rejects.toMatchObject({ code: 'conflict' });
    await expect(cli(['clients', 'create', '--redirect-uri', 'https://x.example/cb#frag'])).rejects.toMatchObject({ code: 'invalid_form' });
    await expect(cli(['clients', 'policy', 'nope', '--min-acr', 'loa2'])).rejects.toMatchObject({ code: 'not_found' });
    await expect(cli(['clients', 'create', '--bogus'])).rejects.toMatchObject({ code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' });
    await expect(cli(['frobnicate'])).rejects.toBeInstanceOf(UsageError);
  });
});
