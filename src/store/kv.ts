/**
 * Short-lived key/value state with expiry (WebAuthn challenges, per-interaction factor progress,
 * pending enrolments). Redis when configured, else a table in the SQL store.
 * `take` is an atomic read-and-delete: exactly one caller gets the value, which makes challenges single-use.
 */
import type { Redis } from 'ioredis';
import { rawRows, type Db } from './db.js';
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

/** A raw query's rows: an array on SQLite, `{ rows }` on PostgreSQL. */
type TakenRows = Array<{ value: string; expires_at: number | string }> | { rows: Array<{ value: string; expires_at: number | string }> };

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
    // One statement: of racing takers, only the one whose delete removed the row gets it back.
    // (Raw: knex drops `returning` from a delete on SQLite, which supports it.)
    const result = (await guardStore(() => this.db.raw('delete from ephemeral where key = ? returning value, expires_at', [key]))) as TakenRows;
    const row = rawRows(result)[0];
    return row && Number(row.expires_at) > this.now() ? row.value : null;
  }
  async del(key: string) {
    await guardStore(() => this.db('ephemeral').where({ key }).del());
  }
  async add(key: string, value: string, ttlSeconds: number) {
    const now = this.now();
    // One statement: insert, or take over the key only if its value has expired; a row comes back iff we set it.
    const rows = (await guardStore(() =>
      this.db('ephemeral')
        .insert({ key, value, expires_at: now + ttlSeconds * 1000 })
        .onConflict('key')
        .merge(['value', 'expires_at'])
        .where('ephemeral.expires_at', '<=', now)
        .returning('key'),
    )) as unknown[];
    return rows.length === 1;
  }
  async sweep() {
    await this.db('ephemeral').where('expires_at', '<', this.now()).del();
  }
}
