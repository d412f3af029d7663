/**
 * Short-lived key/value state with expiry (WebAuthn challenges, per-interaction factor progress,
 * pending enrolments). Redis when configured, else a table in the SQL store.
 * `take` is an atomic read-and-delete: exactly one caller gets the value, which makes challenges single-use.
 */
import type { Redis } from 'ioredis';
import { rawRows, type Db } from './db.js';
import { guardStore } from '../errors/index.js';

export interface KvEntry {
  key: string;
  value: string;
  ttlSeconds: number;
}

export interface KvStore {
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  /** Several `set`s in one store call (one statement, one Redis round trip); a key given twice keeps its last value. */
  setMany(entries: readonly KvEntry[]): Promise<void>;
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
  async setMany(entries: readonly KvEntry[]) {
    if (entries.length === 0) return;
    if (entries.length === 1) return this.set(entries[0]!.key, entries[0]!.value, entries[0]!.ttlSeconds); // no pipeline for one
    const pipeline = this.redis.pipeline();
    for (const e of entries) pipeline.set(this.prefix + e.key, e.value, 'EX', e.ttlSeconds);
    await guardStore(async () => {
      const failed = (await pipeline.exec())?.find(([err]) => err);
      if (failed) throw failed[0];
    });
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
  async setMany(entries: readonly KvEntry[]) {
    if (entries.length === 0) return;
    const now = this.now();
    // One row per key (an upsert may not touch a row twice), the last value given.
    const rows = [...new Map(entries.map((e) => [e.key, { key: e.key, value: e.value, expires_at: now + e.ttlSeconds * 1000 }])).values()];
    await guardStore(() => this.db('ephemeral').insert(rows).onConflict('key').merge());
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
