/**
 * A user's SSO sessions: list them, end one, end all. Ending a session revokes every grant made in it (so its
 * tokens die), destroys it, and then sends a Back-Channel Logout 1.0 logout token to each of its RPs that
 * registered a backchannel_logout_uri — through oidc-provider's own `client.backchannelLogout`, the code the
 * sign-out confirmation uses. Used by the account pages, the admin API/CLI (revoke, disable) and password reset.
 */
import { randomUUID } from 'node:crypto';
import type Provider from 'oidc-provider';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Logger } from 'pino';
import type { KvStore } from '../store/kv.js';
import type { AuditLog } from '../audit/log.js';
import type { SessionIndex } from './adapters.js';
import { mapFound } from './map-found.js';

export interface UserSessionSummary {
  uid: string;
  /** When the user signed in to this session (epoch ms). */
  createdAt: number;
  /** Last time the session was used (epoch ms). */
  lastSeen?: number;
  /** Client ids that got an authorization in this session. */
  clients: string[];
  current?: boolean;
  device?: string;
  ip?: string;
}

const SEEN = 'stepwise_seen_ms';

interface StoredSession extends AdapterPayload {
  jti?: string;
  uid?: string;
  loginTs?: number;
  authorizations?: Record<string, { sid?: string; grantId?: string }>;
  [SEEN]?: number;
}

/**
 * Marks a session (by uid, which survives oidc-provider's id rotation) as being ended: the claim that makes one
 * caller its ender (logout tokens once), and a tombstone that keeps a request still holding it from saving it
 * back. It outlives any request (30 s timeout) and is short, so a crash midway heals by itself.
 */
const ENDED_TTL_SECONDS = 300;
const endedKey = (uid: string) => `session-ended:${uid}`;
/** Every model that can hold a token issued under a grant. */
const GRANT_MODELS = ['AccessToken', 'RefreshToken', 'AuthorizationCode', 'DeviceCode', 'BackchannelAuthenticationRequest'] as const;

/**
 * Session adapter decorator: stamps each save with our clock (the list's "last seen"), and drops the save of a
 * session that is being or was just ended — a request that loaded it before saves it when it finishes, which
 * would bring it back.
 */
export function withSessionGuard(adapter: Adapter, deps: { now: () => number; kv: KvStore }): Adapter {
  const stamped = mapFound(adapter, async (p) => p, (p) => ({ ...p, [SEEN]: deps.now() }) as AdapterPayload);
  return {
    ...stamped,
    async upsert(id, payload, expiresIn) {
      if (typeof payload.uid === 'string' && (await deps.kv.get(endedKey(payload.uid))) !== null) return;
      return stamped.upsert(id, payload, expiresIn);
    },
  };
}

/** What oidc-provider's Client has with features.backchannelLogout (missing from its typings). */
interface BackchannelClient {
  backchannelLogoutUri?: string;
  backchannelLogout(sub: string, sid: string | undefined): Promise<void>;
}

export interface UserSessionsDeps {
  /** A getter: the provider can be rebuilt (key refresh) while this service lives. */
  provider: () => Provider;
  index: SessionIndex;
  kv: KvStore;
  audit: AuditLog;
  log: Logger;
}

export class UserSessions {
  constructor(private readonly deps: UserSessionsDeps) {}

  async list(userId: string, opts: { currentSessionUid?: string } = {}): Promise<UserSessionSummary[]> {
    const sessions = (await this.deps.index.byAccount(userId)) as StoredSession[];
    return sessions
      .filter((s) => s.uid && s.loginTs)
      .map((s) => ({
        uid: s.uid!,
        createdAt: s.loginTs! * 1000,
        ...(s[SEEN] ? { lastSeen: Number(s[SEEN]) } : {}),
        clients: Object.keys(s.authorizations ?? {}),
        ...(opts.currentSessionUid !== undefined ? { current: s.uid === opts.currentSessionUid } : {}),
      }))
      .sort((a, b) => (b.lastSeen ?? b.createdAt) - (a.lastSeen ?? a.createdAt));
  }

  /** Ends the user's session `sessionUid`; false when it is not (or no longer) one of theirs. */
  async endOne(userId: string, sessionUid: string, opts: { reason: string } = { reason: 'user' }): Promise<boolean> {
    const session = await this.deps.provider().Session.findByUid(sessionUid);
    if (!session || session.accountId !== userId) return false;
    return this.end(session.jti, userId, opts.reason);
  }

  /** Ends every session of the user but `exceptSessionUid` (e.g. the one that changed the password). */
  async endAll(userId: string, opts: { reason: string; exceptSessionUid?: string }): Promise<{ ended: number }> {
    const sessions = (await this.deps.index.byAccount(userId)) as StoredSession[];
    const targets = sessions.filter((s) => s.jti && s.uid !== opts.exceptSessionUid);
    const results = await Promise.all(targets.map((s) => this.end(s.jti!, userId, opts.reason)));
    return { ended: results.filter(Boolean).length };
  }

  /**
   * One caller wins the claim on a session, so racing enders send the RPs one logout token, not several. If
   * the store fails before the session is gone, the claim is released (or expires) and a retry finishes it.
   * Once it is gone the claim stays until it expires, as the tombstone withSessionGuard checks.
   */
  private async end(jti: string, userId: string, reason: string): Promise<boolean> {
    const provider = this.deps.provider();
    const session = await provider.Session.find(jti);
    if (!session || session.accountId !== userId) return false;
    const claim = endedKey(session.uid);
    // A unique value: KvStore.add reports success when the stored value is ours.
    if (!(await this.deps.kv.add(claim, randomUUID(), ENDED_TTL_SECONDS))) return false;
    const authorizations = Object.entries((session.authorizations ?? {}) as NonNullable<StoredSession['authorizations']>);
    try {
      for (const [, { grantId }] of authorizations) {
        if (!grantId) continue;
        await Promise.all(GRANT_MODELS.map((m) => provider[m].adapter.revokeByGrantId(grantId)));
        await provider.Grant.adapter.destroy(grantId);
      }
      await session.destroy();
    } catch (err) {
      await this.deps.kv.del(claim).catch(() => undefined);
      throw err;
    }
    const clients = authorizations.map(([clientId]) => clientId);
    await this.deps.audit.record({ type: 'session.ended', outcome: 'success', userId, details: { reason, sessionUid: session.uid, clients } });
    await Promise.all(authorizations.map(([clientId, { sid }]) => this.logoutToken(provider, clientId, userId, sid)));
    return true;
  }

  /** Best effort (RPs may be down): a failure is logged and audited, never thrown — the session is already gone. */
  private async logoutToken(provider: Provider, clientId: string, userId: string, sid: string | undefined) {
    try {
      const client = (await provider.Client.find(clientId)) as BackchannelClient | undefined;
      if (!client?.backchannelLogoutUri) return;
      await client.backchannelLogout(userId, sid);
      await this.deps.audit.record({ type: 'session.backchannel_logout', outcome: 'success', userId, clientId });
    } catch (err) {
      this.deps.log.warn({ err, clientId }, 'back-channel logout failed');
      await this.deps.audit
        .record({ type: 'session.backchannel_logout', outcome: 'failure', userId, clientId, details: { error: (err as Error).message } })
        .catch(() => undefined);
    }
  }
}
