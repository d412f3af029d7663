/**
 * Signing keys live in the database (private JWK encrypted at rest) so every IdP process signs with the
 * same key and serves the same JWKS. A key's lifetime is two timestamps: `created_at` is when it starts
 * signing (a rotated-in key is published first and activates later, so no RP sees an unknown kid), and
 * `retired_at` when it stops; a retired key stays published for a grace period so tokens signed with it
 * still verify. Running processes re-read the table (oidc/key-refresh.ts).
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

export interface KeySet {
  /** For oidc-provider's `jwks`: the signing key first, then every other key still published. */
  keys: PrivateJwk[];
  signingKid: string;
  /** The next time (epoch ms) a key starts or stops signing, if one is scheduled. */
  nextChangeAt: number | null;
}

interface KeyRow {
  kid: string;
  jwk_enc: string;
  created_at: number;
  retired_at: number | null;
}

export class SigningKeys {
  /** Decrypted keys by kid: a key never changes, and a re-encrypted row need not be opened again. */
  private readonly opened = new Map<string, PrivateJwk>();

  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
  ) {}

  /** Keys for oidc-provider's `jwks` option: the one signing at `now` first, then the others still published. */
  async load(now = Date.now()): Promise<PrivateJwk[]> {
    return (await this.current(now)).keys;
  }

  /**
   * The published keys at `now`: active ones, ones scheduled to activate, and ones retired within the grace
   * period. The newest key whose time has come and that is not retired signs.
   */
  async current(now = Date.now()): Promise<KeySet> {
    const raw = await guardStore(() =>
      this.db('signing_keys')
        .whereNull('retired_at')
        .orWhere('retired_at', '>', now - RETIRED_KEY_GRACE_MS)
        .orderBy('created_at', 'desc')
        .orderBy('kid'),
    );
    const rows: KeyRow[] = raw.map((r) => ({ ...r, created_at: Number(r.created_at), retired_at: r.retired_at === null ? null : Number(r.retired_at) }));
    if (rows.length === 0) return { keys: [], signingKid: '', nextChangeAt: null };
    const active = (r: KeyRow) => r.created_at <= now && (r.retired_at === null || r.retired_at > now);
    // Never without a signer: should no key be active (clock skew), the newest that has started, else the oldest.
    const signing = rows.find(active) ?? rows.find((r) => r.created_at <= now) ?? rows[rows.length - 1]!;
    const ordered = [signing, ...rows.filter((r) => r !== signing)];
    const changes = rows.flatMap((r) => [r.created_at, r.retired_at ?? 0]).filter((t) => t > now);
    return {
      keys: ordered.map((r) => this.open(r)),
      signingKid: signing.kid,
      nextChangeAt: changes.length > 0 ? Math.min(...changes) : null,
    };
  }

  private open(r: KeyRow): PrivateJwk {
    let jwk = this.opened.get(r.kid);
    if (!jwk) {
      jwk = JSON.parse(this.box.decryptString(r.jwk_enc, jwkContext(r.kid))) as PrivateJwk;
      this.opened.set(r.kid, jwk);
    }
    return jwk;
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

  /**
   * Adds a new signing key that activates `activateAfterMs` from now, when the current ones retire (still
   * published for a grace period). Until then it is only published: the delay must cover one key-refresh
   * interval of every running process, so all of them publish it before any signs with it.
   */
  async rotate(now = Date.now(), activateAfterMs = 0): Promise<{ kid: string; retired: string[]; activates_at: string }> {
    const jwk = await newRsaJwk();
    const activation = now + activateAfterMs;
    const retired = await guardStore(() =>
      this.db.transaction(async (trx) => {
        const old = (await trx('signing_keys').whereNull('retired_at').pluck('kid')) as string[];
        await trx('signing_keys').whereNull('retired_at').update({ retired_at: activation });
        await trx('signing_keys').insert(this.row(jwk, activation));
        return old;
      }),
    );
    return { kid: jwk.kid, retired, activates_at: new Date(activation).toISOString() };
  }

  private row(jwk: PrivateJwk, now = Date.now()) {
    return { kid: jwk.kid, alg: jwk.alg, jwk_enc: this.box.encrypt(JSON.stringify(jwk), jwkContext(jwk.kid)), created_at: now, retired_at: null };
  }

}
