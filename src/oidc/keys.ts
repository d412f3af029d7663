/**
 * Signing keys live in the database (private JWK encrypted at rest) so every IdP process signs with the
 * same key and serves the same JWKS. The newest active key signs; retired keys stay published for a grace
 * period so tokens signed with them still verify.
 */
import { generateKeyPair as generateKeyPairCb, createHash } from 'node:crypto';
import { promisify } from 'node:util';
import type { Db } from '../store/db.js';
import { isPostgres } from '../store/db.js';
import type { SecretBox } from '../security/crypto.js';
import { guardStore } from '../errors/index.js';

const generateKeyPair = promisify(generateKeyPairCb);
const RETIRED_KEY_GRACE_MS = 24 * 3600 * 1000;
const FIRST_KEY_LOCK = 7_431_002; // advisory lock id: one first signing key across concurrent starters

/** SecretBox context of a signing key's private JWK (also used by encryption-key rotation). */
export const jwkContext = (kid: string): string => `jwk:${kid}`;

export type PrivateJwk = Record<string, unknown> & { kid: string; kty: string; alg: string; use: 'sig' };

async function newRsaJwk(): Promise<PrivateJwk> {
  const { privateKey } = await generateKeyPair('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' }) as Record<string, unknown>;
  const kid = createHash('sha256').update(String(jwk.n)).digest('base64url').slice(0, 16);
  return { ...jwk, kid, kty: 'RSA', alg: 'RS256', use: 'sig' };
}

export class SigningKeys {
  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
  ) {}

  /** Keys for oidc-provider's `jwks` option: newest active first (it signs), then recently retired ones. */
  async load(now = Date.now()): Promise<PrivateJwk[]> {
    const rows = await guardStore(() =>
      this.db('signing_keys')
        .whereNull('retired_at')
        .orWhere('retired_at', '>', now - RETIRED_KEY_GRACE_MS)
        .orderBy('created_at', 'desc'),
    );
    const active = rows.filter((r) => r.retired_at === null);
    const retired = rows.filter((r) => r.retired_at !== null);
    return [...active, ...retired].map(
      (r) => JSON.parse(this.box.decryptString(r.jwk_enc as string, jwkContext(r.kid as string))) as PrivateJwk,
    );
  }

  /**
   * Generates the first key on an empty table. Concurrent starters converge on one key: the check and the
   * insert run under one lock (a PostgreSQL advisory lock; SQLite serialises writers itself), so a second
   * starter finds the first one's key instead of adding its own.
   */
  async ensure(): Promise<PrivateJwk[]> {
    const keys = await this.load();
    if (keys.length > 0) return keys;
    const jwk = await newRsaJwk();
    await guardStore(() =>
      this.db.transaction(async (trx) => {
        if (isPostgres(this.db)) await trx.raw('select pg_advisory_xact_lock(?)', [FIRST_KEY_LOCK]);
        const existing = await trx('signing_keys').first('kid');
        if (!existing) await trx('signing_keys').insert(this.row(jwk));
      }),
    );
    return this.load();
  }

  /** Adds a new signing key and retires the previous ones (still published for a grace period). */
  async rotate(now = Date.now()): Promise<{ kid: string; retired: string[] }> {
    const jwk = await newRsaJwk();
    const retired = await this.db.transaction(async (trx) => {
      const old = (await trx('signing_keys').whereNull('retired_at').pluck('kid')) as string[];
      await trx('signing_keys').whereNull('retired_at').update({ retired_at: now });
      await trx('signing_keys').insert(this.row(jwk, now));
      return old;
    });
    return { kid: jwk.kid, retired };
  }

  private row(jwk: PrivateJwk, now = Date.now()) {
    return { kid: jwk.kid, alg: jwk.alg, jwk_enc: this.box.encrypt(JSON.stringify(jwk), jwkContext(jwk.kid)), created_at: now, retired_at: null };
  }

}
