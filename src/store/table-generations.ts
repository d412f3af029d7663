/**
 * Which generation of a table a process may trust, so its records can be cached across requests
 * (src/store/shared-cache.ts: clients, users, factor lists, open recoveries) without ever serving a changed or deleted one.
 *
 * The database counts every change itself (migrations …07, …08 and 20261203000002: triggers), so a change is seen whoever
 * makes it — this process, another instance, the CLI, an operator's SQL:
 *  - SQLite: the table's counter is read through a second read-only connection (WAL readers neither wait for
 *    nor block the writer), which sees every commit at once. Each lookup first asks that connection's
 *    `pragma data_version`, which moves whenever any other connection committed to the file: while it stands
 *    still, the counters read since are still current and are not read again. Only the main file counts —
 *    the short-lived state in the transient file (token requests, userinfo, rate limits) moves nothing.
 *  - PostgreSQL: reading a counter would cost the round trip the cache saves, so one connection LISTENs for the
 *    triggers' NOTIFYs (delivered on commit) and each starts a new local generation of that table. A write
 *    made by this process moves the generation itself when the statement answers, so this process does not
 *    wait for its own notification (inside a transaction the NOTIFY after the COMMIT moves it once more). While the
 *    listening connection is down — or before it listens — `current()` is null: no caching at all.
 *    Reconnecting starts new generations of every table (notifications may have been missed meanwhile).
 */
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import type { Db } from './db.js';
import { lazy } from '../lazy.js';
import { tableWrittenBy } from './request-cache.js';

export const CACHED_TABLES = ['clients', 'users', 'factors', 'recoveries'] as const;
export type CachedTable = (typeof CACHED_TABLES)[number];

export interface TableGenerations {
  /** The table's current generation, or null when its changes cannot be followed now (do not use cached records). */
  current(table: CachedTable): number | null;
  close(): Promise<void>;
}

// Neither driver ships types; these are the few calls used here (both are knex's drivers already).
interface SqliteStatement<Row> {
  get(...params: unknown[]): Row | undefined;
}
interface SqliteHandle {
  prepare<Row>(sql: string): SqliteStatement<Row>;
  close(): void;
}
interface PgListener {
  connect(): Promise<void>;
  query(sql: string): Promise<unknown>;
  end(): Promise<void>;
  on(event: 'error' | 'end', fn: (err?: Error) => void): void;
  on(event: 'notification', fn: (msg: { channel: string; payload?: string }) => void): void;
  removeAllListeners(): void;
}
const sqlite = lazy<new (file: string, opts: { readonly: boolean; fileMustExist: boolean }) => SqliteHandle>('better-sqlite3');
const pgDriver = lazy<{ Client: new (opts: { connectionString: string }) => PgListener }>('pg');

/** The triggers' channels: …07 announces `clients` changes on its own channel, …08 names the table. */
const CHANNELS = ['stepwise_clients', 'stepwise_changes'] as const;
const isCached = (name: string | undefined): name is CachedTable => (CACHED_TABLES as readonly string[]).includes(name ?? '');

class SqliteGenerations implements TableGenerations {
  private readonly db: SqliteHandle;
  private readonly read: SqliteStatement<{ generation: number | bigint }>;
  private readonly version: SqliteStatement<{ data_version: number | bigint }>;
  /** Counters read while data_version stood at `seenVersion`. */
  private readonly known = new Map<CachedTable, number>();
  private seenVersion: number | null = null;

  constructor(filename: string) {
    this.db = new (sqlite())(filename, { readonly: true, fileMustExist: true });
    this.read = this.db.prepare('select generation from cache_generations where name = ?');
    this.version = this.db.prepare('pragma data_version');
  }

  current(table: CachedTable): number | null {
    try {
      // Asked before the counter is (re)read: a commit landing in between moves it for the next lookup.
      const version = Number(this.version.get()!.data_version);
      if (version !== this.seenVersion) {
        this.known.clear();
        this.seenVersion = version;
      }
      const known = this.known.get(table);
      if (known !== undefined) return known;
      const row = this.read.get(table);
      if (!row) return null;
      const generation = Number(row.generation);
      this.known.set(table, generation);
      return generation;
    } catch {
      this.seenVersion = null;
      return null; // unreadable now (locked schema change, file gone): read the table instead
    }
  }

  async close() {
    this.db.close();
  }
}

class PgGenerations implements TableGenerations {
  private readonly generations = new Map<CachedTable, number>(CACHED_TABLES.map((t) => [t, 0]));
  private listening = false;
  private client: PgListener | undefined;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly connection: string,
    private readonly log: Logger,
    db: Db,
  ) {
    this.followLocalWrites(db);
    void this.connect();
  }

  current(table: CachedTable): number | null {
    return this.listening ? this.generations.get(table)! : null;
  }

  private bump(table: CachedTable) {
    this.generations.set(table, this.generations.get(table)! + 1);
  }

  private followLocalWrites(db: Db) {
    // At each write's answer (for a transaction's statement: before its COMMIT, and the trigger's NOTIFY
    // after the COMMIT moves the generation again, so nothing read in between outlives the commit).
    db.on('query-response', (_response: unknown, q: { sql?: string }) => {
      const table = typeof q.sql === 'string' ? tableWrittenBy(q.sql) : undefined;
      if (isCached(table)) this.bump(table);
    });
  }

  private async connect(): Promise<void> {
    const client = new (pgDriver().Client)({ connectionString: this.connection });
    this.client = client;
    const down = (err?: Error) => {
      if (this.client !== client) return;
      this.listening = false;
      this.client = undefined;
      client.removeAllListeners();
      void client.end().catch(() => undefined);
      if (err && !this.closed) this.log.warn({ err: err.message }, 'shared cache: change feed lost, reading uncached until it is back');
      if (!this.closed) this.retry = setTimeout(() => void this.connect(), 1000).unref();
    };
    client.on('error', down);
    client.on('end', () => down());
    client.on('notification', (msg) => {
      const table = msg.channel === 'stepwise_clients' ? 'clients' : msg.payload;
      if (isCached(table)) this.bump(table);
    });
    try {
      await client.connect();
      for (const channel of CHANNELS) await client.query(`listen ${channel}`);
      if (this.client !== client) return;
      for (const table of CACHED_TABLES) this.bump(table); // anything cached before may have changed meanwhile
      this.listening = true;
    } catch (err) {
      down(err as Error);
    }
  }

  async close() {
    this.closed = true;
    clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    this.listening = false;
    await client?.end().catch(() => undefined);
  }
}

/** Follows the cached tables' changes, or null where that is impossible (an in-memory SQLite database). */
export function followTableChanges(database: Config['database'], log: Logger, db: Db): TableGenerations | null {
  if (database.client === 'pg') return new PgGenerations(database.connection, log, db);
  if (database.filename === ':memory:') return null;
  try {
    return new SqliteGenerations(resolve(database.filename));
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'shared cache: off (the change counters are unreadable)');
    return null;
  }
}
