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
import { AppError, guardStore } from '../errors/index.js';

/** A store outage inside oidc-provider becomes `temporarily_unavailable` (HTTP 503), not a 500 server_error. */
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
          throw err;
        }
      };
    },
  });
}

const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);
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
    await guardStore(() => this.db('oidc_payloads').where({ model: this.name, id }).update({ consumed_at: Date.now() }));
  }
  async destroy(id: string) {
    await guardStore(() => this.db('oidc_payloads').where({ model: this.name, id }).del());
  }
  async revokeByGrantId(grantId: string) {
    await guardStore(() => this.db('oidc_payloads').where({ grant_id: grantId }).del());
  }

  static async sweep(db: Db) {
    await db('oidc_payloads').whereNotNull('expires_at').andWhere('expires_at', '<', Date.now()).del();
  }
}

// Marks a hash as consumed only if it still exists, so a late consume never recreates an expired key without TTL.
const CONSUME_SCRIPT = `if redis.call('exists', KEYS[1]) == 1 then return redis.call('hset', KEYS[1], 'consumed', ARGV[1]) end return 0`;

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
    await guardStore(async () => {
      const multi = this.redis.multi();
      multi.del(key);
      multi.hset(key, 'payload', JSON.stringify(payload));
      if (expiresIn) multi.expire(key, expiresIn);
      if (GRANTABLE.has(this.name) && payload.grantId) {
        const grantKey = this.grantKey(payload.grantId);
        multi.rpush(grantKey, key);
        // The grant index must live as long as its longest-lived token.
        const ttl = await this.redis.ttl(grantKey);
        if (expiresIn > ttl) multi.expire(grantKey, expiresIn);
      }
      if (payload.userCode) {
        multi.set(this.userCodeKey(payload.userCode), id);
        if (expiresIn) multi.expire(this.userCodeKey(payload.userCode), expiresIn);
      }
      if (payload.uid) {
        multi.set(this.uidKey(payload.uid), id);
        if (expiresIn) multi.expire(this.uidKey(payload.uid), expiresIn);
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
    await guardStore(() => this.redis.eval(CONSUME_SCRIPT, 1, this.key(id), String(nowSeconds())));
  }
  async destroy(id: string) {
    await guardStore(() => this.redis.del(this.key(id)));
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

export function adapterFactory(opts: { db: Db; redis?: Redis; clients: ClientsRepo; prefix?: string }) {
  return (name: string): Adapter => {
    if (name === 'Client') return withOutageMapping(new ClientAdapter(opts.clients));
    return withOutageMapping(opts.redis ? new RedisAdapter(name, opts.redis, opts.prefix) : new SqlAdapter(name, opts.db));
  };
}
