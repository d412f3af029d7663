/**
 * Refresh tokens follow the same assurance rule as sign-ins. oidc-provider copies acr/amr from the old
 * refresh token into the rotated one and into the ID and access tokens it issues; this decorator around the
 * RefreshToken adapter re-derives them when a token is read, from the authentication event that the login
 * prompt's check recorded (`<session uid>:<auth_time>` → methods with times): the acr is the strongest level,
 * at or below the one originally issued, that those methods still hold under each level's max age, and the
 * amr names the methods backing it. auth_time stays the original (OIDC Core §12.2). When nothing holds any
 * more, or the event is unknown, the token carries no acr/amr at all: it never claims more than was earned.
 */
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { AuthContextStore } from '../interactions/auth-context.js';
import type { ClientsRepo } from '../store/repos/clients.js';
import type { LevelRule } from '../policy/levels.js';
import type { AccountAssurance } from '../factors/assurance.js';
import { assuranceRequirement, decideRefresh, liveMethods } from '../policy/requirement.js';
import { eventKey } from './policy.js';
import { mapFound } from './map-found.js';

export interface RefreshDecayDeps {
  events: AuthContextStore;
  clients: ClientsRepo;
  levels: LevelRule[];
  accounts: (accountId: string) => Promise<AccountAssurance>;
  now: () => number;
}

export function withRefreshDecay(adapter: Adapter, deps: RefreshDecayDeps): Adapter {
  return mapFound(adapter, async (payload) => {
    if (!payload.accountId || payload.consumed) return payload;
    const { sessionUid, authTime, accountId, clientId } = payload as AdapterPayload & { sessionUid?: string; authTime?: number };
    const event = sessionUid && authTime ? await deps.events.get(eventKey(sessionUid, authTime)) : null;
    const stripped = { ...payload, acr: undefined, amr: undefined };
    if (!event || event.accountId !== accountId) return stripped;
    const [client, account] = await Promise.all([deps.clients.find(String(clientId)), deps.accounts(accountId)]);
    const req = assuranceRequirement({ levels: deps.levels, client, params: {}, demands: [] });
    const decision = decideRefresh(req, payload.acr, liveMethods(event.methods, account.activeFactorIds), Math.floor(deps.now() / 1000));
    return decision ? { ...payload, acr: decision.acr, amr: decision.amr } : stripped;
  });
}
