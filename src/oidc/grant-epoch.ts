/**
 * Ending every token of a user at once. oidc-provider checks the Grant behind every refresh, userinfo and
 * introspection call, so a grant that can no longer be found ends all tokens issued under it. This decorator
 * around the Grant adapter stamps each save with our clock and hides grants saved before the user's
 * `tokens_valid_after` (set when a factor is removed or the password changes) and grants of disabled or
 * deleted users. Same-second precision problems of the JWT-style `iat` are avoided by the millisecond stamp.
 */
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { UsersRepo } from '../store/repos/users.js';
import { mapFound } from './map-found.js';

const SAVED_AT = 'stepwise_saved_ms';

export function withGrantEpoch(adapter: Adapter, deps: { users: UsersRepo; now: () => number }): Adapter {
  return mapFound(
    adapter,
    async (payload) => {
      if (!payload.accountId) return payload;
      const user = await deps.users.findById(payload.accountId);
      if (!user || user.disabled) return undefined;
      const savedAt = Number((payload as Record<string, unknown>)[SAVED_AT] ?? (payload.iat ?? 0) * 1000);
      return savedAt < user.tokensValidAfter ? undefined : payload;
    },
    (payload) => ({ ...payload, [SAVED_AT]: deps.now() }) as AdapterPayload,
  );
}
