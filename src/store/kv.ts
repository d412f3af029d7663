/**
 * Short-lived key/value state with expiry (WebAuthn challenges, per-interaction factor progress,
 * pending enrolments). Redis when configured, else a table in the SQL store.
 * `take` is an atomic read-and-delete: exactly one caller gets the value, which makes challenges single-use.
 */
import type { Redis } from 'ioredis';
import type { Db } from './db.js';
import { guardStore } from '../errors/index.js';

export interface KvStore {
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  get(key: string): Promise<string | null>;
  take(key: string): Promise<string | null>;
  /**
   * Sets the key only when it holds no live value; true when this call set it (atomic: one of racing callers
   * wins). `value` must be unique to the caller (e.g. carry a random id).
   */
  add(key: string, value: string, ttlSeconds: number): Promise<boolean>;
  del(key: string): Promise<void>;
}

export class RedisKv implements KvStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'stepwise:kv:',
  ) {}
  async set(key: string, value: string, ttlSeconds: number) {
    await guardStore(() => this.redis.set(this.prefix + key, value, 'EX', ttlSeconds));
  }
  async get(key: string) {
    return guardStore(() => this.redis.get(this.prefix + key));
  }
  async take(key: string) {
    return guardStore(() => this.redis.getdel(this.prefix + key));
  }
  async add(key: string, value: string, ttlSeconds: number) {
    return (await guardStore(() => this.redis.set(this.prefix + key, value, 'EX', ttlSeconds, 'NX'))) === 'OK';
  }
  async del(key: string) {
    await guardStore(() => this.redis.del(this.prefix + key));
  }
}

export class SqlKv implements KvStore {
  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}
  async set(key: string, value: string, ttlSeconds: number) {
    const row = { key, value, expires_at: this.now() + ttlSeconds * 1000 };
    await guardStore(() => this.db('ephemeral').insert(row).onConflict('key').merge());
  }
  async get(key: string) {
    const row = await guardStore(() => this.db('ephemeral').where({ key }).first());
    return row && Number(row.expires_at) > this.now() ? (row.value as string) : null;
  }
  async take(key: string) {
    return guardStore(() =>
      this.db.transaction(async (trx) => {
        const row = await trx('ephemeral').where({ key }).first();
        if (!row) return null;
        // The delete's row count decides the winner when two requests race for the same key.
        const deleted = await trx('ephemeral').where({ key, value: row.value }).del();
        if (deleted !== 1 || Number(row.expires_at) <= this.now()) return null;
        return row.value as string;
      }),
    );
  }
  async del(key: string) {
    await guardStore(() => this.db('ephemeral').where({ key }).del());
  }
  async add(key: string, value: string, ttlSeconds: number) {
    return guardStore(() =>
      this.db.transaction(async (trx) => {
        await trx('ephemeral').where({ key }).andWhere('expires_at', '<=', this.now()).del();
        await trx('ephemeral').insert({ key, value, expires_at: this.now() + ttlSeconds * 1000 }).onConflict('key').ignore();
        // The row that is there now decides: ours only if no live value was (racing inserts wait on the key).
        const row = await trx('ephemeral').where({ key }).first();
        return row?.value === value;
      }),
    );
  }
  async sweep() {
    await this.db('ephemeral').where('expires_at', '<', this.now()).del();
  }
}
