/**
 * `stepwise keys rotate-encryption`: data sealed with key A (v2, and v1 from before HKDF) is re-encrypted
 * with key B while A is configured as previous; afterwards B alone opens everything, idempotently.
 */
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix, type StoreSetup } from '../helpers/stores.js';
import { totpCode } from '../helpers/account.js';
import { run, type CliIo } from '../../src/cli/index.js';
import { loadConfig } from '../../src/config/index.js';
import { buildContainer } from '../../src/container.js';
import { createDb, type Db } from '../../src/store/db.js';
import { SecretBox } from '../../src/security/crypto.js';
import { PasswordHasher } from '../../src/security/password.js';
import { FactorsRepo } from '../../src/store/repos/factors.js';
import { BackupCodesRepo } from '../../src/store/repos/backup-codes.js';
import { TotpFactor } from '../../src/factors/totp/index.js';
import { BackupCodesFactor, normaliseBackupCode } from '../../src/factors/backup-codes/index.js';
import type { FactorContext } from '../../src/factors/types.js';

const b64 = (k: Buffer) => k.toString('base64');

/** What the pre-HKDF SecretBox wrote: AES-GCM under the raw key, `v1.<base64url(iv|tag|ct)>`. */
function sealV1(key: Buffer, plaintext: string, context: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(context));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return `v1.${Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64url')}`;
}
const legacyLookup = (key: Buffer, code: string) => createHmac('sha256', key).update(`backup-code-lookup\0${code}`).digest('base64url');

describe.each(storeMatrix)('keys rotate-encryption on $name', (kind) => {
  let stores: StoreSetup;
  let db: Db;
  const keyA = randomBytes(32);
  const keyB = randomBytes(32);
  const idB = new SecretBox(keyB).keyId;
  const hasher = new PasswordHasher({ memoryCost: 7168, timeCost: 1, parallelism: 1 });
  let envA: Record<string, string>;
  let envRotating: Record<string, string>;
  let envB: Record<string, string>;
  const state = {
    clientId: '',
    secret: '',
    userId: '',
    totpSecret: '',
    codes: [] as string[],
    enrolledAt: Date.now(),
  };

  async function cli(env: Record<string, string>, argv: string[], stdin = ''): Promise<any> {
    let written = '';
    const io: CliIo = { env: { ...env, LOG_LEVEL: 'silent' }, readStdin: async () => stdin, write: (t) => (written += t) };
    await run(argv, io);
    return JSON.parse(written);
  }

  const factorsWith = (box: SecretBox) => {
    const factors = new FactorsRepo(db);
    return {
      totp: new TotpFactor({ factors, box, issuer: 'Stepwise' }),
      backup: new BackupCodesFactor({ factors, codes: new BackupCodesRepo(db), box, hasher }),
    };
  };
  const ctx = (now: number): FactorContext => ({ userId: state.userId, userEmail: 'rot@example.com', userName: null, scope: 's', now });
  const sealedValues = async () => [
    ...((await db('signing_keys').pluck('jwk_enc')) as string[]),
    ...((await db('clients').whereNotNull('secret_enc').pluck('secret_enc')) as string[]),
    ...((await db('factors').whereNotNull('secret_enc').pluck('secret_enc')) as string[]),
  ];

  beforeAll(async () => {
    stores = await kind.setup();
    envA = { ...stores.env, STEPWISE_ENCRYPTION_KEY: b64(keyA) };
    envRotating = { ...stores.env, STEPWISE_ENCRYPTION_KEY: b64(keyB), STEPWISE_ENCRYPTION_KEY_PREVIOUS: b64(keyA) };
    envB = { ...stores.env, STEPWISE_ENCRYPTION_KEY: b64(keyB) };
    const url = stores.env.DATABASE_URL!;
    db = createDb(/^postgres/.test(url) ? { client: 'pg', connection: url } : { client: 'sqlite', filename: url });
  });
  afterAll(async () => {
    await db?.destroy();
    await stores?.cleanup();
  });

  it('with key A: seals signing keys, client secrets and TOTP seeds; an older database holds v1 values', async () => {
    state.userId = (await cli(envA, ['users', 'create', '--email', 'rot@example.com'], 'a long enough password')).id;
    const client = await cli(envA, ['clients', 'create', '--redirect-uri', 'https://app.example/cb']);
    state.clientId = client.client_id;
    state.secret = client.client_secret;
    await cli(envA, ['keys', 'rotate']); // two signing keys

    const { totp, backup } = factorsWith(new SecretBox(keyA));
    const start = await totp.startEnrollment(ctx(state.enrolledAt), {});
    state.totpSecret = start.secret as string;
    await totp.finishEnrollment(ctx(state.enrolledAt), { factorId: start.factorId, code: totpCode(state.totpSecret, state.enrolledAt) });
    state.codes = ((await backup.startEnrollment(ctx(state.enrolledAt), {})).codes as string[]).map((c) => normaliseBackupCode(c)!);

    // What a database from before per-purpose keys looks like: one v1 client secret, one untagged lookup.
    await db('clients').insert({
      client_id: 'legacy-client',
      secret_enc: sealV1(keyA, 'legacy-secret', 'client:legacy-client'),
      metadata: JSON.stringify({ redirect_uris: ['https://legacy.example/cb'], token_endpoint_auth_method: 'client_secret_basic' }),
      first_party: false,
      created_at: Date.now(),
    });
    await db('backup_codes').where({ lookup: backup.lookupOf(state.codes[0]!) }).update({ lookup: legacyLookup(keyA, state.codes[0]!) });

    const idA = new SecretBox(keyA).keyId;
    const sealed = await sealedValues();
    expect(sealed.length).toBe(5); // 2 signing keys, 2 client secrets, 1 TOTP seed
    expect(sealed.filter((s) => s.startsWith(`v2.${idA}.`))).toHaveLength(4);
  });

  it('with key B alone, before rotating: refuses, names the fix, and changes nothing', async () => {
    const before = await sealedValues();
    await expect(cli(envB, ['keys', 'rotate-encryption'])).rejects.toMatchObject({
      code: 'conflict',
      message: expect.stringMatching(/^signing_keys .*not configured.*STEPWISE_ENCRYPTION_KEY_PREVIOUS$/),
    });
    expect(await sealedValues()).toEqual(before);
  });

  it('during the rotation window (B current, A previous) A values open and A lookups match', async () => {
    const { totp, backup } = factorsWith(new SecretBox(keyB, [keyA]));
    const now = state.enrolledAt + 30_000;
    await expect(totp.verify(ctx(now), { code: totpCode(state.totpSecret, now) })).resolves.toMatchObject({ factorId: expect.any(String) });
    // Found through A's lookup MAC (no hash scan): the code is tagged with A.
    const row = await db('backup_codes').where({ lookup: factorsWith(new SecretBox(keyA)).backup.lookupOf(state.codes[1]!) }).first();
    expect(row?.used_at).toBeNull();
    await expect(backup.verify(ctx(now), { code: state.codes[1] })).resolves.toMatchObject({ factorId: expect.any(String) });
    expect((await db('backup_codes').where({ id: row.id }).first()).used_at).not.toBeNull();
  });

  it('during the rotation window the server starts and serves A-sealed secrets (container passes previous keys)', async () => {
    const c = await buildContainer({ ...loadConfig(envRotating), logLevel: 'silent' });
    try {
      expect((await c.clients.find(state.clientId))?.client_secret).toBe(state.secret);
      expect((await c.clients.find('legacy-client'))?.client_secret).toBe('legacy-secret');
    } finally {
      await c.close();
    }
  });

  it('re-encrypts everything with B in one go, and a second run has nothing to do', async () => {
    const report = await cli(envRotating, ['keys', 'rotate-encryption']);
    expect(report).toMatchObject({
      keyId: idB,
      reencrypted: { signing_keys: 2, clients: 2, factors: 1 },
      backup_codes: { relabelled_legacy_lookups: 1, unused_not_under_current_key: 9 },
    });
    const sealed = await sealedValues();
    expect(sealed.every((s) => s.startsWith(`v2.${idB}.`))).toBe(true);
    expect((await db('backup_codes').pluck('lookup')).filter((l: string) => l.startsWith('legacy.'))).toHaveLength(1);

    const again = await cli(envRotating, ['keys', 'rotate-encryption']);
    expect(again).toMatchObject({ reencrypted: { signing_keys: 0, clients: 0, factors: 0 }, backup_codes: { relabelled_legacy_lookups: 0 } });
    expect(await sealedValues()).toEqual(sealed);
    const events = await db('audit_events').where({ type: 'keys.encryption_rotated' });
    expect(events).toHaveLength(2);
  });

  it('afterwards key B alone: client secrets authenticate, TOTP and backup codes (even legacy ones) verify', async () => {
    const c = await buildContainer({ ...loadConfig(envB), logLevel: 'silent' });
    try {
      const client = await c.provider.Client.find(state.clientId);
      expect(await client!.compareClientSecret(state.secret)).toBe(true);
      expect(await client!.compareClientSecret(`${state.secret}x`)).toBe(false);
      const legacy = await c.provider.Client.find('legacy-client');
      expect(await legacy!.compareClientSecret('legacy-secret')).toBe(true);
    } finally {
      await c.close();
    }

    const { totp, backup } = factorsWith(new SecretBox(keyB));
    const later = state.enrolledAt + 90_000; // past the step used in the rotation window
    await expect(totp.verify(ctx(later), { code: totpCode(state.totpSecret, later) })).resolves.toMatchObject({ factorId: expect.any(String) });
    // Codes whose lookup key is gone are found by hash: the relabelled legacy one and one tagged with A.
    await expect(backup.verify(ctx(later), { code: state.codes[0] })).resolves.toMatchObject({ factorId: expect.any(String) });
    await expect(backup.verify(ctx(later), { code: state.codes[2] })).resolves.toMatchObject({ factorId: expect.any(String) });
    await expect(backup.verify(ctx(later), { code: state.codes[2] })).rejects.toMatchObject({ code: 'invalid_code' });
    await expect(backup.verify(ctx(later), { code: 'abcdefghjkmnpqrs' })).rejects.toMatchObject({ code: 'invalid_code' });
    expect(await backup.remaining(state.userId)).toBe(7);
    // A new set is tagged with B.
    await backup.startEnrollment(ctx(later), {});
    const lookups = (await db('backup_codes').where({ user_id: state.userId }).pluck('lookup')) as string[];
    expect(lookups.every((l) => l.startsWith(`${idB}.`))).toBe(true);

    expect(await cli(envB, ['audit', 'verify'])).toMatchObject({ intact: true, firstBrokenEvent: null });
  });
});
