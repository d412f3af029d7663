/** knex factory for PostgreSQL or SQLite (embedded), plus the migration runner. */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import knexFactory, { type Knex } from 'knex';
import type { Config } from '../config/index.js';
import { BoundedCache } from '../bounded-cache.js';
import { PROJECT_ROOT } from '../paths.js';
import { ensureTransientTables, TRANSIENT_SCHEMA } from './transient-schema.js';

export type Db = Knex;

export function createDb(database: Config['database']): Db {
  if (database.client === 'pg') {
    return knexFactory({
      client: 'pg',
      connection: database.connection,
      pool: { min: 0, max: 10 },
      acquireConnectionTimeout: 5000,
    });
  }
  const file = database.filename === ':memory:' ? undefined : resolve(database.filename);
  const transientFile = file ? transientStateFile(file) : ':memory:';
  if (file) {
    prepareSqliteFile(file);
    prepareSqliteFile(transientFile);
  }
  return knexFactory({
    client: 'better-sqlite3',
    connection: { filename: database.filename },
    useNullAsDefault: true,
    // One connection: SQLite serialises writers anyway, and a single handle makes transactions predictable.
    pool: {
      min: 1,
      max: 1,
      afterCreate(conn: SqliteConnection, done: (err: Error | null, conn: unknown) => void) {
        reusePreparedStatements(conn);
        conn.pragma('journal_mode = WAL');
        // Said, not assumed: better-sqlite3 opens a file that is already in WAL mode with NORMAL (its build
        // default), a new one with FULL — users, factors and the audit chain are fsynced at every commit, always.
        conn.pragma('synchronous = FULL');
        conn.pragma('foreign_keys = ON');
        conn.pragma('busy_timeout = 5000');
        attachTransientState(conn, transientFile);
        if (file) {
          restrictSqliteSidecars(file);
          restrictSqliteSidecars(transientFile);
        }
        done(null, conn);
      },
    },
    acquireConnectionTimeout: 5000,
  });
}

interface SqliteConnection {
  pragma(s: string): unknown;
  prepare(sql: string): unknown;
  exec(sql: string): unknown;
}

/** `stepwise.sqlite` → `stepwise.sqlite.transient` (owner-only, like the main file). */
export function transientStateFile(file: string): string {
  return `${file}.transient`;
}

/**
 * Attaches the transient file with synchronous=NORMAL while the main file is FULL. In WAL mode NORMAL skips
 * the fsync at each commit and loses nothing when the process dies, only the last commits on a power cut or
 * kernel crash: Redis's own durability for this state (it fsyncs once a second at best). A password + TOTP
 * sign-in commits ~18 times here (oidc-provider payloads, key/value, rate limits: 6 each) and 2 – 3 times in
 * the main file (each request's audit events with the device and sign-in rows; the factor's used step), which keeps users,
 * factors, devices, sign-ins and the audit chain fsynced at every commit. A transaction that spans both files
 * is atomic per file only; none of ours does (every transient write is one statement).
 */
function attachTransientState(conn: SqliteConnection, transientFile: string): void {
  (conn.prepare(`attach database ? as ${TRANSIENT_SCHEMA}`) as { run(file: string): unknown }).run(transientFile);
  conn.pragma(`${TRANSIENT_SCHEMA}.journal_mode = WAL`);
  conn.pragma(`${TRANSIENT_SCHEMA}.synchronous = NORMAL`);
  ensureTransientTables(conn);
}

const STATEMENT_CACHE_SIZE = 500;

/**
 * knex prepares every statement anew (better-sqlite3 compiles the SQL each time: about as costly as running
 * it). Its queries are parameterised, so the same few hundred SQL texts recur: keep their compiled statements
 * (least recently used out). Safe to share — a better-sqlite3 statement runs synchronously to completion, knex
 * only calls all()/run() on it, and SQLite re-prepares a statement by itself after a schema change.
 *
 * knex's transactions begin DEFERRED: one that reads and then writes fails at once with SQLITE_BUSY (no
 * busy wait) when another process wrote in between — two workers (WEB_CONCURRENCY) or a CLI run next to the
 * server. They begin IMMEDIATE instead: the write lock is taken (waiting up to busy_timeout) before the first
 * read. Within one process nothing changes (one connection, transactions already run one at a time); WAL
 * readers are never blocked.
 */
function reusePreparedStatements(conn: SqliteConnection): void {
  const prepare = conn.prepare.bind(conn);
  const cache = new BoundedCache<string, unknown>(STATEMENT_CACHE_SIZE);
  conn.prepare = (sql: string) => cache.getOrSet(sql, () => prepare(sql === 'BEGIN;' ? 'BEGIN IMMEDIATE;' : sql));
}

/**
 * The database holds password hashes and (sealed) secrets: owner-only. The directory is created 0700 when
 * missing; the file is created 0600 before SQLite opens it (SQLite would create it 0644), and an existing
 * one is narrowed to 0600.
 */
function prepareSqliteFile(file: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  closeSync(openSync(file, 'a', 0o600)); // creates it 0600 if missing, never truncates
  chmodSync(file, 0o600);
}

/** SQLite gives -wal/-shm the main file's mode; this narrows any left over from before it was 0600. */
function restrictSqliteSidecars(file: string): void {
  for (const suffix of ['-wal', '-shm']) {
    if (existsSync(file + suffix)) chmodSync(file + suffix, 0o600);
  }
}

/** The rows of a `db.raw` statement that returns rows: better-sqlite3 gives the array, pg a result with `rows`. */
export function rawRows<Row>(result: Row[] | { rows: Row[] }): Row[] {
  return Array.isArray(result) ? result : result.rows;
}

export function isPostgres(db: Db): boolean {
  return db.client.config.client === 'pg';
}

// Migrations sit in <root>/migrations as .ts (tests, via vitest) or in <root>/dist/migrations as .js
// (after tsc). Found from the project root, not from this file: in dist/src/main.bundle.js this code no
// longer sits in dist/src/store/.
const migrationsDir = resolve(PROJECT_ROOT, fileURLToPath(import.meta.url).endsWith('.ts') ? 'migrations' : 'dist/migrations');

const migrationSource: Knex.MigrationSource<string> = {
  async getMigrations() {
    return readdirSync(migrationsDir)
      .filter((f) => /\.(ts|js)$/.test(f) && !f.endsWith('.d.ts'))
      .sort();
  },
  getMigrationName(file) {
    return file.replace(/\.(ts|js)$/, '');
  },
  async getMigration(file) {
    return (await import(pathToFileURL(resolve(migrationsDir, file)).href)) as Knex.Migration;
  },
};

const MIGRATION_LOCK = 7_431_002; // advisory lock id (the audit chain's is 7_431_001)

interface PgSession {
  query(sql: string, values: unknown[]): Promise<unknown>;
}

/**
 * On PostgreSQL, migrators of several processes run one after another under a session advisory lock. knex's
 * own lock is not enough on a fresh database: two processes creating its bookkeeping at once can both insert
 * the lock row, and with two rows nobody can ever take the lock (seen: four replicas starting together all
 * stuck on "Migration table is already locked"). The lock ends with the session if a process dies.
 */
async function oneMigratorAtATime<T>(db: Db, fn: () => Promise<T>): Promise<T> {
  if (!isPostgres(db)) return fn();
  const session = (await db.client.acquireConnection()) as PgSession;
  try {
    await session.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
    return await fn();
  } finally {
    await session.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await db.client.releaseConnection(session);
  }
}

/**
 * Runs pending migrations. Several processes may start at once: on PostgreSQL they take turns
 * (oneMigratorAtATime); should knex's lock still be held (a migrator of an older release, SQLite's
 * processes), the others wait and try again, then find nothing left.
 */
export async function migrate(db: Db, opts: { attempts?: number; waitMs?: number } = {}): Promise<string[]> {
  return oneMigratorAtATime(db, () => migrateRetrying(db, opts));
}

async function migrateRetrying(db: Db, opts: { attempts?: number; waitMs?: number }): Promise<string[]> {
  const attempts = opts.attempts ?? 240; // up to a minute at the default wait
  for (let i = 1; ; i++) {
    try {
      const [, applied] = (await db.migrate.latest({ migrationSource })) as [number, string[]];
      return applied;
    } catch (err) {
      // The lock itself, or a race creating knex's own bookkeeping tables (knex_migrations[_lock]).
      const locked = /already locked|knex_migrations|already exists|duplicate key/i.test((err as Error).message ?? '');
      if (!locked || i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, opts.waitMs ?? 250));
    }
  }
}
