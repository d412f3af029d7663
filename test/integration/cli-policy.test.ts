/**
 * `stepwise clients policy CLIENT_ID --sensitive-scopes a,b` on real stores: sets the client policy's
 * sensitive_scopes (kept by later edits, removed by an empty list), only from the configured API scopes
 * (STEPWISE_API_SCOPES), and `risk explain` then judges a request for such a scope as a sensitive action.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix, type StoreSetup } from '../helpers/stores.js';
import { run, type CliIo } from '../../src/cli/index.js';
import type { RiskReason } from '../../src/risk/types.js';

const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';

describe.each(storeMatrix)('stepwise clients policy --sensitive-scopes on $name', (kind) => {
  let stores: StoreSetup;
  let clientId: string;

  /** Runs the CLI; `env` entries override the defaults, `undefined` unsets one. */
  async function cli(argv: string[], opts: { env?: Record<string, string | undefined>; stdin?: string } = {}): Promise<any> {
    let written = '';
    const merged = { ...stores.env, LOG_LEVEL: 'silent', STEPWISE_API_SCOPES: 'payments:write, payments:read,admin', ...opts.env };
    const io: CliIo = {
      env: Object.fromEntries(Object.entries(merged).filter((e): e is [string, string] => e[1] !== undefined)),
      readStdin: async () => opts.stdin ?? '',
      write: (t) => (written += t),
    };
    await run(argv, io);
    return JSON.parse(written);
  }

  beforeAll(async () => {
    stores = await kind.setup();
    await cli(['migrate']);
    clientId = (await cli(['clients', 'create', '--redirect-uri', 'https://pay.example/cb', '--name', 'Pay'])).client_id;
  });
  afterAll(async () => stores?.cleanup());

  it('sets sensitive_scopes from the API scopes, keeps them across other edits, and removes them with an empty list', async () => {
    const set = await cli(['clients', 'policy', clientId, '--sensitive-scopes', 'payments:write, admin,payments:write']);
    expect(set).toEqual({ client_id: clientId, policy: { sensitive_scopes: ['payments:write', 'admin'] } });

    // Stored: another flag later keeps it.
    const more = await cli(['clients', 'policy', clientId, '--min-acr', 'loa2']);
    expect(more.policy).toEqual({ sensitive_scopes: ['payments:write', 'admin'], min_acr: 'loa2' });

    // A request for such a scope is a sensitive action for this client (and only for such a scope).
    await cli(['users', 'create', '--email', 'sam@example.com'], { stdin: 'a long enough password' });
    const explain = (scope: string) =>
      cli(['risk', 'explain', '--email', 'sam@example.com', '--ip', '203.0.113.5', '--user-agent', UA, '--client', clientId, '--scope', scope]);
    const sensitive = await explain('openid payments:write');
    expect(sensitive.signals.request.sensitive).toBe(true);
    expect(sensitive.reasons.map((r: RiskReason) => r.signal)).toContain('sensitive_action');
    const plain = await explain('openid payments:read');
    expect(plain.signals.request.sensitive).toBe(false);
    expect(plain.reasons.map((r: RiskReason) => r.signal)).not.toContain('sensitive_action');

    const replaced = await cli(['clients', 'policy', clientId, '--sensitive-scopes', 'payments:read']);
    expect(replaced.policy).toEqual({ sensitive_scopes: ['payments:read'], min_acr: 'loa2' });
    const cleared = await cli(['clients', 'policy', clientId, '--sensitive-scopes', '']);
    expect(cleared.policy).toEqual({ min_acr: 'loa2' });
  });

  it('refuses a scope that is not a configured API scope, naming it and STEPWISE_API_SCOPES', async () => {
    const before = (await cli(['clients', 'policy', clientId, '--sensitive-scopes', 'admin'])).policy;
    const err = await cli(['clients', 'policy', clientId, '--sensitive-scopes', 'payments:write,payments:delete']).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'invalid_form', field: 'sensitive_scopes' });
    expect((err as Error).message).toContain('payments:delete');
    expect((err as Error).message).toContain('STEPWISE_API_SCOPES');
    expect((err as Error).message).not.toMatch(/payments:write is not/);
    // Without STEPWISE_API_SCOPES no scope can be sensitive.
    const none = await cli(['clients', 'policy', clientId, '--sensitive-scopes', 'admin'], { env: { STEPWISE_API_SCOPES: undefined } }).catch((e: unknown) => e);
    expect(none).toMatchObject({ code: 'invalid_form', field: 'sensitive_scopes' });
    expect((none as Error).message).toMatch(/admin.*STEPWISE_API_SCOPES is not set/);
    // Nothing was changed by the refusals.
    expect((await cli(['clients', 'policy', clientId])).policy).toEqual(before);
  });
});
