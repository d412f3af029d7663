/**
 * A user's SSO sessions: list them, end one, end all. Ending a session revokes every grant made in it (so its
 * tokens die), destroys it, and then sends a Back-Channel Logout 1.0 logout token to each of its RPs that
 * registered a backchannel_logout_uri — through oidc-provider's own `client.backchannelLogout`, the code the
 * sign-out confirmation uses. Used by the account pages, the admin API/CLI (revoke, disable) and password reset.
 */
import { randomUUID } from 'node:crypto';
import Provider, { type Adapter, type AdapterPayload } from 'oidc-provider';
import type { Logger } from 'pino';
import type { KvStore } from '../store/kv.js';
import type { AuditLog } from '../audit/log.js';
import { StoreUnavailableError, type SessionIndex } from './adapters.js';
import { AppError, isStoreOutage } from '../errors/index.js';
import { mapFound } from './map-found.js';
import { uaFamily } from '../risk/collector.js';

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
const IP = 'stepwise_ip';
const DEVICE = 'stepwise_device';

interface StoredSession extends AdapterPayload {
  jti?: string;
  uid?: string;
  loginTs?: number;
  authorizations?: Record<string, { sid?: string; grantId?: string }>;
  [SEEN]?: number;
  [IP]?: string;
  [DEVICE]?: string;
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

/** The request saving a session (oidc-provider's own request context): where and from what it was last used. */
function lastUse(): Record<string, string> {
  const ctx = Provider.ctx;
  if (!ctx) return {};
  const ua = ctx.get('user-agent');
  return { ...(ctx.ip ? { [IP]: ctx.ip } : {}), ...(ua ? { [DEVICE]: uaFamily(ua) } : {}) };
}

/**
 * Session adapter decorator: stamps each save with our clock, the client's address and browser (the list's
 * "last seen", `ip`, `device`), and drops the save of a session that is being or was just ended — a request
 * that loaded it before saves it when it finishes, which would bring it back.
 */
export function withSessionGuard(adapter: Adapter, deps: { now: () => number; kv: KvStore }): Adapter {
  const stamped = mapFound(adapter, async (p) => p, (p) => ({ ...p, [SEEN]: deps.now(), ...lastUse() }) as AdapterPayload);
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
  clientId: string;
  backchannelLogoutUri?: string;
  backchannelLogout(sub: string, sid: string | undefined): Promise<void>;
}

/** The adapters report an outage as oidc-provider's 503 error; callers of this service get our typed one. */
async function typedOutage<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof StoreUnavailableError) throw new AppError('store_unavailable', undefined, undefined, { cause: err });
    throw err;
  }
}

export interface UserSessionsDeps {
  provider: Provider;
  index: SessionIndex;
  kv: KvStore;
  audit: AuditLog;
  log: Logger;
}

export class UserSessions {
  constructor(private readonly deps: UserSessionsDeps) {}

  async list(userId: string, opts: { currentSessionUid?: string } = {}): Promise<UserSessionSummary[]> {
    const sessions = (await typedOutage(() => this.deps.index.byAccount(userId))) as StoredSession[];
    return sessions
      .filter((s) => s.uid && s.loginTs)
      .map((s) => ({
        uid: s.uid!,
        createdAt: s.loginTs! * 1000,
        ...(s[SEEN] ? { lastSeen: Number(s[SEEN]) } : {}),
        ...(s[IP] ? { ip: s[IP] } : {}),
        ...(s[DEVICE] ? { device: s[DEVICE] } : {}),
        clients: Object.keys(s.authorizations ?? {}),
        ...(opts.currentSessionUid !== undefined ? { current: s.uid === opts.currentSessionUid } : {}),
      }))
      .sort((a, b) => (b.lastSeen ?? b.createdAt) - (a.lastSeen ?? a.createdAt));
  }

  /** Ends the user's session `sessionUid`; false when it is not (or no longer) one of theirs. */
  async endOne(userId: string, sessionUid: string, opts: { reason: string } = { reason: 'user' }): Promise<boolean> {
    return typedOutage(async () => {
      const session = await this.deps.provider.Session.findByUid(sessionUid);
      if (!session || session.accountId !== userId) return false;
      return this.end(session.jti, userId, opts.reason);
    });
  }

  /** Ends every session of the user but `exceptSessionUid` (e.g. the one that changed the password). */
  async endAll(userId: string, opts: { reason: string; exceptSessionUid?: string }): Promise<{ ended: number }> {
    return typedOutage(async () => {
      const sessions = (await this.deps.index.byAccount(userId)) as StoredSession[];
      const targets = sessions.filter((s) => s.jti && s.uid !== opts.exceptSessionUid);
      // Settle every one before answering: a failure must not leave others still running behind the caller.
      const results = await Promise.allSettled(targets.map((s) => this.end(s.jti!, userId, opts.reason)));
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      return { ended: results.filter((r) => r.status === 'fulfilled' && r.value).length };
    });
  }

  /**
   * One caller wins the claim on a session, so racing enders send the RPs one logout token, not several.
   * What the logout tokens need (the RPs' clients) is read before anything changes, and if the store fails
   * before the session is gone the claim is released (or expires): an outage leaves the session as it was,
   * for a retry to finish. Once it is gone the claim stays until it expires, as withSessionGuard's tombstone.
   */
  private async end(jti: string, userId: string, reason: string): Promise<boolean> {
    const provider = this.deps.provider;
    const session = await provider.Session.find(jti);
    if (!session || session.accountId !== userId) return false;
    const authorizations = Object.entries((session.authorizations ?? {}) as NonNullable<StoredSession['authorizations']>);
    const notify = await this.backchannelClients(provider, authorizations);
    // Nothing is ended that could not be audited (the clients above may come from the cache, not the database).
    await this.deps.audit.probe();
    const claim = endedKey(session.uid);
    // A unique value: KvStore.add reports success when the stored value is ours.
    if (!(await this.deps.kv.add(claim, randomUUID(), ENDED_TTL_SECONDS))) return false;
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
    // The session is gone: its RPs are told even if the audit store fails now (that failure is still thrown).
    const clients = authorizations.map(([clientId]) => clientId);
    const [audited] = await Promise.allSettled([
      this.deps.audit.record({ type: 'session.ended', outcome: 'success', userId, details: { reason, sessionUid: session.uid, clients } }),
      ...notify.map(({ client, sid }) => this.logoutToken(client, userId, sid)),
    ]);
    if (audited.status === 'rejected') throw audited.reason;
    return true;
  }

  /** The session's clients that registered a backchannel_logout_uri, with the session's sid for each. */
  private async backchannelClients(provider: Provider, authorizations: Array<[string, { sid?: string }]>) {
    const found = await Promise.all(
      authorizations.map(async ([clientId, { sid }]) => {
        try {
          const client = (await provider.Client.find(clientId)) as BackchannelClient | undefined;
          return client?.backchannelLogoutUri ? { client, sid } : undefined;
        } catch (err) {
          if (err instanceof StoreUnavailableError || isStoreOutage(err)) throw err;
          return undefined; // a client deleted or no longer valid gets no logout token
        }
      }),
    );
    return found.filter((t): t is { client: BackchannelClient; sid: string | undefined } => t !== undefined);
  }

  /** Best effort (RPs may be down): a failure is logged and audited, never thrown — the session is already gone. */
  private async logoutToken(client: BackchannelClient, userId: string, sid: string | undefined) {
    const { clientId } = client;
    try {
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
