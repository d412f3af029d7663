/**
 * Which generation of the clients table a process may trust, so client records can be cached across requests
 * (src/store/repos/clients.ts) without ever serving a changed or deleted client.
 *
 * The database counts every change itself (migration …07_client_generation: triggers on `clients`), so a
 * change is seen whoever makes it — this process, another instance, the CLI, an operator's SQL:
 *  - SQLite: the counter is read, per lookup, through a second read-only connection (a prepared statement,
 *    microseconds; WAL readers neither wait for nor block the writer). It sees every commit at once.
 *  - PostgreSQL: reading the counter would cost the round trip the cache saves, so one connection LISTENs on
 *    `stepwise_clients` (the trigger's NOTIFY, delivered on commit) and each notification starts a new local
 *    generation. While that connection is down — or before it listens — `current()` is null: no caching at
 *    all, every lookup reads the table. Reconnecting starts a new generation (notifications may have been
 *    missed meanwhile).
 */
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import { lazy } from '../lazy.js';

// Neither driver ships types; these are the few calls used here (both are knex's drivers already).
interface SqliteHandle {
  prepare(sql: string): { get(): { generation: number | bigint } | undefined };
  close(): void;
}
interface PgListener {
  connect(): Promise<void>;
  query(sql: string): Promise<unknown>;
  end(): Promise<void>;
  on(event: 'error' | 'end' | 'notification', fn: (err?: Error) => void): void;
  removeAllListeners(): void;
}
const sqlite = lazy<new (file: string, opts: { readonly: boolean; fileMustExist: boolean }) => SqliteHandle>('better-sqlite3');
const pgDriver = lazy<{ Client: new (opts: { connectionString: string }) => PgListener }>('pg');

export interface ClientGeneration {
  /** The current generation, or null when changes cannot be followed now (do not use cached records). */
  current(): number | null;
  close(): Promise<void>;
}

const CHANNEL = 'stepwise_clients';

class SqliteGeneration implements ClientGeneration {
  private readonly db: SqliteHandle;
  private readonly read: ReturnType<SqliteHandle['prepare']>;

  constructor(filename: string) {
    this.db = new (sqlite())(filename, { readonly: true, fileMustExist: true });
    this.read = this.db.prepare("select generation from cache_generations where name = 'clients'");
  }

  current(): number | null {
    try {
      const row = this.read.get();
      return row ? Number(row.generation) : null;
    } catch {
      return null; // unreadable now (locked schema change, file gone): read the table instead
    }
  }

  async close() {
    this.db.close();
  }
}

class PgGeneration implements ClientGeneration {
  private generation = 0;
  private listening = false;
  private client: PgListener | undefined;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly connection: string,
    private readonly log: Logger,
  ) {
    void this.connect();
  }

  current(): number | null {
    return this.listening ? this.generation : null;
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
      if (err && !this.closed) this.log.warn({ err: err.message }, 'client cache: change feed lost, reading clients uncached until it is back');
      if (!this.closed) this.retry = setTimeout(() => void this.connect(), 1000).unref();
    };
    client.on('error', down);
    client.on('end', () => down());
    client.on('notification', () => {
      this.generation += 1;
    });
    try {
      await client.connect();
      await client.query(`listen ${CHANNEL}`);
      if (this.client !== client) return;
      this.generation += 1; // anything cached before may have changed while nobody listened
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

/** Follows the clients table's changes, or null where that is impossible (an in-memory SQLite database). */
export function followClientChanges(database: Config['database'], log: Logger): ClientGeneration | null {
  if (database.client === 'pg') return new PgGeneration(database.connection, log);
  if (database.filename === ':memory:') return null;
  try {
    return new SqliteGeneration(resolve(database.filename));
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'client cache: off (the change counter is unreadable)');
    return null;
  }
}
