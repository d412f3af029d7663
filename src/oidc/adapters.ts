/**
 * oidc-provider storage adapters. Artifacts (sessions, interactions, codes, tokens, grants) go to Redis when
 * configured, else to the SQL store. Clients always come from the SQL `clients` table, so a client created
 * with the CLI is visible to every running process at once.
 */
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Redis } from 'ioredis';
import type { Db } from '../store/db.js';
import type { ClientsRepo } from '../store/repos/clients.js';
import { errors } from 'oidc-provider';
import { AppError, guardStore, isUnstorableText } from '../errors/index.js';
import { forgetTable, memoizeReads } from '../store/request-cache.js';
import { wrapMethods } from '../store/wrap-methods.js';

/**
 * A store outage inside oidc-provider becomes `temporarily_unavailable` (HTTP 503), not a 500 server_error.
 * Every other error — notably oidc-provider's own `InvalidGrant` from a replayed `consume` — passes unchanged.
 */
export class StoreUnavailableError extends errors.OIDCProviderError {
  constructor(cause?: unknown) {
    super(503, 'temporarily_unavailable', { cause });
    this.expose = true;
    this.error_description = 'the service is temporarily unavailable, try again shortly';
  }
}

function withOutageMapping(adapter: Adapter): Adapter {
  return new Proxy(adapter, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        try {
          return await value.apply(target, args);
        } catch (err) {
          if (err instanceof AppError && err.code === 'store_unavailable') throw new StoreUnavailableError(err.cause);
          // An id from a request that PostgreSQL cannot even compare (a NUL byte): nothing has it.
          if (isUnstorableText(err)) {
            if (String(prop).startsWith('find')) return undefined;
            throw new errors.InvalidRequest('the request contains characters that are not allowed');
          }
          throw err;
        }
      };
    },
  });
}

/**
 * oidc-provider records each client assertion's jti in this model (find, then upsert — not atomic by
 * itself); the adapters make the upsert insert-if-absent so a replay racing the first use is refused too.
 */
const REPLAY_MODEL = 'ReplayDetection';
const replayed = () => new errors.InvalidClientAuth('client assertion tokens must only be used once');

const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

/**
 * Single-use grant sources. oidc-provider checks `consumed` and then consumes in two steps, so two parallel
 * token requests with one code (or one refresh token) both pass the check. `consume` is therefore
 * conditional in the store: the request that does not flip `consumed` gets `invalid_grant`, and — RFC 6749
 * §4.1.2, RFC 9700 §4.14.2 — everything issued under the grant is revoked, the grant included, so tokens
 * the winning request is still issuing die with it.
 */
const SINGLE_USE: Record<string, string> = {
  AuthorizationCode: 'authorization code already used',
  RefreshToken: 'refresh token already used',
  DeviceCode: 'device code already used',
  BackchannelAuthenticationRequest: 'backchannel authentication request already used',
  PreAuthorizedCode: 'pre-authorized code already used',
};
const nowSeconds = () => Math.floor(Date.now() / 1000);

export class SqlAdapter implements Adapter {
  constructor(
    private readonly name: string,
    private readonly db: Db,
  ) {}

  async upsert(id: string, payload: AdapterPayload, expiresIn: number) {
    const row = {
      model: this.name,
      id,
      payload: JSON.stringify(payload),
      grant_id: payload.grantId ?? null,
      user_code: payload.userCode ?? null,
      uid: payload.uid ?? null,
      expires_at: expiresIn ? Date.now() + expiresIn * 1000 : null,
    };
    if (this.name === REPLAY_MODEL) {
      // Insert-if-absent: of two concurrent uses of one client assertion, exactly one is recorded.
      const inserted = await guardStore(() => this.db('oidc_payloads').insert(row).onConflict(['model', 'id']).ignore().returning('id'));
      if ((inserted as unknown[]).length === 0) throw replayed();
      return;
    }
    await guardStore(() => this.db('oidc_payloads').insert(row).onConflict(['model', 'id']).merge());
  }

  private async findWhere(where: Record<string, string>): Promise<AdapterPayload | undefined> {
    const row = await guardStore(() => this.db('oidc_payloads').where({ model: this.name, ...where }).first());
    if (!row) return undefined;
    if (row.expires_at !== null && Number(row.expires_at) <= Date.now()) return undefined;
    const payload = JSON.parse(row.payload as string) as AdapterPayload;
    return row.consumed_at ? { ...payload, consumed: Math.floor(Number(row.consumed_at) / 1000) } : payload;
  }

  find(id: string) {
    return this.findWhere({ id });
  }
  findByUid(uid: string) {
    return this.findWhere({ uid });
  }
  findByUserCode(userCode: string) {
    return this.findWhere({ user_code: userCode });
  }
  async consume(id: string) {
    const where = { model: this.name, id };
    const updated = await guardStore(() => this.db('oidc_payloads').where(where).whereNull('consumed_at').update({ consumed_at: Date.now() }));
    const replayed = SINGLE_USE[this.name];
    if (updated === 1 || !replayed) return;
    const row = (await guardStore(() => this.db('oidc_payloads').where(where).first('grant_id'))) as { grant_id: string | null } | undefined;
    if (row?.grant_id) await this.revokeGrant(row.grant_id);
    throw new errors.InvalidGrant(replayed);
  }
  async destroy(id: string) {
    await guardStore(() => this.db('oidc_payloads').where({ model: this.name, id }).del());
  }
  async revokeByGrantId(grantId: string) {
    await guardStore(() => this.db('oidc_payloads').where({ grant_id: grantId }).del());
  }
  /** Every artifact issued under the grant, and the grant itself. */
  private async revokeGrant(grantId: string) {
    await guardStore(() => this.db('oidc_payloads').where({ grant_id: grantId }).orWhere({ model: 'Grant', id: grantId }).del());
  }

  static async sweep(db: Db) {
    await db('oidc_payloads').whereNotNull('expires_at').andWhere('expires_at', '<', Date.now()).del();
  }
}

// Marks a hash as consumed only if it still exists (a late consume never recreates an expired key without TTL)
// and is not consumed yet: 1 = this call consumed it, 0 = already consumed, -1 = gone.
const CONSUME_SCRIPT = `if redis.call('exists', KEYS[1]) == 0 then return -1 end return redis.call('hsetnx', KEYS[1], 'consumed', ARGV[1])`;

// Lengthens a key's time to live to ARGV[1] seconds, never shortens it (a key without one gets it). Run inside
// the upsert's MULTI: no round trip of its own, and no window between reading the TTL and setting it.
const EXTEND_TTL_SCRIPT = `local ttl = redis.call('ttl', KEYS[1]) if ttl >= tonumber(ARGV[1]) then return 0 end return redis.call('expire', KEYS[1], ARGV[1])`;

export class RedisAdapter implements Adapter {
  constructor(
    private readonly name: string,
    private readonly redis: Redis,
    private readonly prefix = 'stepwise:oidc:',
  ) {}

  private key(id: string) {
    return `${this.prefix}${this.name}:${id}`;
  }
  private grantKey(id: string) {
    return `${this.prefix}grant:${id}`;
  }
  private uidKey(uid: string) {
    return `${this.prefix}uid:${uid}`;
  }
  private userCodeKey(code: string) {
    return `${this.prefix}userCode:${code}`;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn: number) {
    const key = this.key(id);
    if (this.name === REPLAY_MODEL) {
      // Insert-if-absent (HSETNX): of two concurrent uses of one client assertion, exactly one is recorded.
      const fresh = await guardStore(() => this.redis.hsetnx(key, 'payload', JSON.stringify(payload)));
      if (fresh === 0) throw replayed();
      if (expiresIn) await guardStore(() => this.redis.expire(key, expiresIn));
      return;
    }
    await guardStore(async () => {
      const multi = this.redis.multi();
      multi.del(key);
      multi.hset(key, 'payload', JSON.stringify(payload));
      if (expiresIn) multi.expire(key, expiresIn);
      if (GRANTABLE.has(this.name) && payload.grantId) {
        const grantKey = this.grantKey(payload.grantId);
        multi.rpush(grantKey, key);
        // The grant index must live as long as its longest-lived token.
        if (expiresIn) multi.eval(EXTEND_TTL_SCRIPT, 1, grantKey, expiresIn);
      }
      if (payload.userCode) {
        multi.set(this.userCodeKey(payload.userCode), id);
        if (expiresIn) multi.expire(this.userCodeKey(payload.userCode), expiresIn);
      }
      if (payload.uid) {
        multi.set(this.uidKey(payload.uid), id);
        if (expiresIn) multi.expire(this.uidKey(payload.uid), expiresIn);
      }
      if (this.name === 'Session' && payload.accountId) {
        // Per-account index of sessions, written in the same MULTI as the session (never one without the other).
        const accountKey = accountSessionsKey(this.prefix, payload.accountId);
        multi.sadd(accountKey, id);
        if (expiresIn) multi.eval(EXTEND_TTL_SCRIPT, 1, accountKey, expiresIn);
      }
      const results = await multi.exec();
      const failed = results?.find(([err]) => err);
      if (failed) throw failed[0];
    });
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const data = await guardStore(() => this.redis.hgetall(this.key(id)));
    if (!data || !data.payload) return undefined;
    const payload = JSON.parse(data.payload) as AdapterPayload;
    return data.consumed ? { ...payload, consumed: Number(data.consumed) } : payload;
  }
  async findByUid(uid: string) {
    const id = await guardStore(() => this.redis.get(this.uidKey(uid)));
    return id ? this.find(id) : undefined;
  }
  async findByUserCode(userCode: string) {
    const id = await guardStore(() => this.redis.get(this.userCodeKey(userCode)));
    return id ? this.find(id) : undefined;
  }
  async consume(id: string) {
    const key = this.key(id);
    const result = Number(await guardStore(() => this.redis.eval(CONSUME_SCRIPT, 1, key, String(nowSeconds()))));
    const replayed = SINGLE_USE[this.name];
    if (result === 1 || !replayed) return;
    const raw = await guardStore(() => this.redis.hget(key, 'payload'));
    const grantId = raw ? (JSON.parse(raw) as AdapterPayload).grantId : undefined;
    if (grantId) {
      await this.revokeByGrantId(grantId);
      await guardStore(() => this.redis.del(`${this.prefix}Grant:${grantId}`));
    }
    throw new errors.InvalidGrant(replayed);
  }
  async destroy(id: string) {
    if (this.name !== 'Session') {
      await guardStore(() => this.redis.del(this.key(id)));
      return;
    }
    await guardStore(async () => {
      const raw = await this.redis.hget(this.key(id), 'payload');
      const accountId = raw ? (JSON.parse(raw) as AdapterPayload).accountId : undefined;
      const multi = this.redis.multi().del(this.key(id));
      if (accountId) multi.srem(accountSessionsKey(this.prefix, accountId), id);
      const results = await multi.exec();
      const failed = results?.find(([err]) => err);
      if (failed) throw failed[0];
    });
  }
  async revokeByGrantId(grantId: string) {
    await guardStore(async () => {
      const keys = await this.redis.lrange(this.grantKey(grantId), 0, -1);
      const multi = this.redis.multi();
      for (const k of keys) multi.del(k);
      multi.del(this.grantKey(grantId));
      await multi.exec();
    });
  }
}

const accountSessionsKey = (prefix: string, accountId: string) => `${prefix}accountSessions:${accountId}`;

/** A user's SSO sessions (oidc-provider Session payloads), read from the store the Session adapter writes to. */
export interface SessionIndex {
  byAccount(accountId: string): Promise<AdapterPayload[]>;
}

/**
 * SQL: the sessions are the Session rows whose payload names the account (a scan of the Session rows; the
 * exact match is checked after parsing). Redis: the per-account set the adapter maintains with each session,
 * whose members are only hints — an expired member is dropped when read.
 */
export function sessionIndex(opts: { db: Db; redis?: Redis; prefix?: string }): SessionIndex {
  const prefix = opts.prefix ?? 'stepwise:oidc:';
  const live = (p: AdapterPayload | undefined, accountId: string): p is AdapterPayload =>
    !!p && p.accountId === accountId && (p.exp === undefined || p.exp > nowSeconds());
  if (opts.redis) {
    const redis = opts.redis;
    return {
      async byAccount(accountId) {
        const setKey = accountSessionsKey(prefix, accountId);
        const ids = await guardStore(() => redis.smembers(setKey));
        if (ids.length === 0) return [];
        const raws = await guardStore(() => Promise.all(ids.map((id) => redis.hget(`${prefix}Session:${id}`, 'payload'))));
        const found = raws.map((raw) => (raw ? (JSON.parse(raw) as AdapterPayload) : undefined));
        const stale = ids.filter((_id, i) => !live(found[i], accountId));
        if (stale.length > 0) await redis.srem(setKey, ...stale).catch(() => undefined);
        return found.filter((p): p is AdapterPayload => live(p, accountId));
      },
    };
  }
  const db = opts.db;
  return {
    async byAccount(accountId) {
      const needle = `"accountId":${JSON.stringify(accountId)}`.replace(/[\\%_]/g, (ch) => `\\${ch}`);
      const rows = (await guardStore(() =>
        db('oidc_payloads')
          .where({ model: 'Session' })
          .andWhereRaw("payload like ? escape '\\'", [`%${needle}%`])
          .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', Date.now()))
          .select('payload'),
      )) as Array<{ payload: string }>;
      return rows.map((r) => JSON.parse(r.payload) as AdapterPayload).filter((p) => live(p, accountId));
    },
  };
}

/** Read-only adapter over the clients table (oidc-provider's Client model). */
export class ClientAdapter implements Adapter {
  constructor(private readonly clients: ClientsRepo) {}
  async find(id: string) {
    return (await this.clients.find(id)) as AdapterPayload | undefined;
  }
  async upsert() {
    throw new Error('clients are managed with the stepwise CLI / admin API');
  }
  async findByUid() {
    return undefined;
  }
  async findByUserCode() {
    return undefined;
  }
  async consume() {}
  async destroy() {}
  async revokeByGrantId() {}
}

const PAYLOAD_READS = ['find', 'findByUid', 'findByUserCode'] as const;

/**
 * One request reads the same session or interaction several times (our guards, the locale, the page, the
 * engine itself): within a request each distinct read runs once (src/store/request-cache.ts). Every other
 * adapter call is a write and forgets the request's memoised payloads of all models, before and after —
 * on Redis too, where the SQL write hook sees nothing.
 */
function memoizedPerRequest(name: string, adapter: Adapter): Adapter {
  const reads = memoizeReads(adapter, 'oidc_payloads', PAYLOAD_READS, name);
  const isRead = (method: string) => (PAYLOAD_READS as readonly string[]).includes(method);
  return wrapMethods(reads, (method) => !isRead(method), (write) => async (...args: unknown[]) => {
    forgetTable('oidc_payloads');
    try {
      return await write(...args);
    } finally {
      forgetTable('oidc_payloads');
    }
  });
}

/** `decorate` wraps a model's adapter (grant epoch, refresh decay) inside the outage mapping, so its own store reads map to 503 too. */
export function adapterFactory(opts: { db: Db; redis?: Redis; clients: ClientsRepo; prefix?: string; decorate?: (name: string, adapter: Adapter) => Adapter }) {
  const decorate = opts.decorate ?? ((_name: string, adapter: Adapter) => adapter);
  return (name: string): Adapter => {
    if (name === 'Client') return withOutageMapping(new ClientAdapter(opts.clients));
    return withOutageMapping(memoizedPerRequest(name, decorate(name, opts.redis ? new RedisAdapter(name, opts.redis, opts.prefix) : new SqlAdapter(name, opts.db))));
  };
}
