/**
 * Client secret rotation with an overlap window (src/admin/clients.ts rotateClientSecret): until the
 * window ends, the previous secret authenticates too. oidc-provider compares secrets in one method,
 * `Client#compareClientSecret` (awaited by its client authentication for client_secret_basic/_post); this
 * wraps it so a failed comparison with the current secret is tried, in constant time, against the stored
 * previous secret while it has not expired. client_secret_jwt keeps using the current secret only.
 */
import type Provider from 'oidc-provider';
import type { Db } from '../store/db.js';
import type { SecretBox } from '../security/crypto.js';
import { constantTimeEqual } from '../security/crypto.js';
import { previousSecretContext } from './clients.js';

const INSTALLED = Symbol.for('stepwise.secretOverlap');

export function installSecretOverlap(provider: Provider, deps: { db: Db; box: SecretBox; now: () => number }): void {
  const proto = (provider.Client as unknown as { prototype: Record<string | symbol, unknown> }).prototype;
  if (proto[INSTALLED]) return;
  const original = proto.compareClientSecret as (this: { clientId: string }, actual: string) => boolean | Promise<boolean>;
  proto.compareClientSecret = async function compareWithOverlap(this: { clientId: string }, actual: string): Promise<boolean> {
    if (await original.call(this, actual)) return true;
    if (typeof actual !== 'string' || actual.length === 0) return false;
    const row = await deps.db('client_previous_secrets').where({ client_id: this.clientId }).andWhere('expires_at', '>', deps.now()).first('secret_enc');
    if (!row) return false;
    return constantTimeEqual(deps.box.decryptString(row.secret_enc as string, previousSecretContext(this.clientId)), actual);
  };
  proto[INSTALLED] = true;
}
