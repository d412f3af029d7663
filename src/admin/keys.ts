/**
 * Signing keys: list (public metadata only, never key material) and rotate. Rotation itself is
 * SigningKeys#rotate (src/oidc/keys.ts); running processes pick the new key up from the table
 * (src/oidc/key-refresh.ts).
 */
import { guardStore } from '../errors/index.js';
import { auditAdmin, type Actor, type AdminContext } from './types.js';

export interface KeyView {
  kid: string;
  alg: string;
  /** When it starts (or started) signing, epoch ms. */
  created_at: number;
  retired_at: number | null;
  status: 'signing' | 'scheduled' | 'retired' | 'active';
}

export async function listKeys(c: AdminContext): Promise<KeyView[]> {
  const now = c.now();
  const rows = await guardStore(() => c.db('signing_keys').select('kid', 'alg', 'created_at', 'retired_at').orderBy('created_at', 'desc'));
  const signingKid = (await c.keys.load(now))[0]?.kid;
  return rows.map((r) => {
    const created = Number(r.created_at);
    const retired = r.retired_at === null || r.retired_at === undefined ? null : Number(r.retired_at);
    const status: KeyView['status'] =
      r.kid === signingKid ? 'signing' : retired !== null && retired <= now ? 'retired' : created > now ? 'scheduled' : 'active';
    return { kid: r.kid as string, alg: r.alg as string, created_at: created, retired_at: retired, status };
  });
}

/**
 * A new key, published now and signing from `activates_at` (config keys.activationDelaySeconds: every
 * running process publishes it first, within its key-refresh interval); the current keys retire then.
 */
export async function rotateKeys(c: AdminContext, actor: Actor): Promise<{ kid: string; retired: string[]; activates_at: string }> {
  const result = await c.keys.rotate(c.now(), c.config.keys.activationDelaySeconds * 1000);
  await auditAdmin(c, actor, { type: 'keys.rotated', details: { ...result } });
  // This process publishes it at once; the others on their next refresh.
  await c.keyRefresh.refresh().catch((err: unknown) => c.log.warn({ err }, 'key refresh after rotation failed'));
  return result;
}
