import type { Knex } from 'knex';

/**
 * Embedded default (SQLite) only: the short-lived state — oidc-provider's payloads, the key/value table and the
 * rate-limit counters — moves to the `transient` database that src/store/db.ts attaches (a second file,
 * synchronous=NORMAL; see attachTransientState there). Rows move with their tables: sessions survive the
 * upgrade. The code names these tables unqualified, so it needs no change. PostgreSQL keeps them as they are
 * (there Redis holds this state, when configured).
 *
 * `rate_limits` was created by rate-limiter-flexible on first use; it is now created here (same columns), and
 * the limiter is told so (src/security/rate-limit.ts, `tableCreated`). From then on src/store/transient-schema.ts
 * creates the tables at each connection whenever the transient file lacks them (it may be lost: it is state).
 *
 * The two files do not commit together, so the tables move in two steps (moveTables) that are each safe to
 * be cut short.
 */
const SCHEMA = 'transient';
const TABLES = ['oidc_payloads', 'ephemeral', 'rate_limits'] as const;
const RATE_LIMITS = 'create table if not exists %s.rate_limits (key TEXT PRIMARY KEY, points INTEGER NOT NULL DEFAULT 0, expire INTEGER)';

interface MasterRow {
  type: 'table' | 'index';
  sql: string;
}

const isSqlite = (knex: Knex) => knex.client.config.client !== 'pg';

async function attached(knex: Knex): Promise<boolean> {
  const rows = (await knex.raw('pragma database_list')) as Array<{ name: string }>;
  return rows.some((r) => r.name === SCHEMA);
}

/** `create table "t" …` / `create index "i" on "t" …` → the same in schema `to` (an index's table stays unqualified: SQLite's rule). */
function inSchema(ddl: string, to: string): string {
  return ddl.replace(/^(create\s+(?:unique\s+)?(?:table|index))\s+(?:if\s+not\s+exists\s+)?/i, `$1 ${to}.`);
}

/** Tables of `tables` that schema `from` has, with the DDL of each (table first, then its indexes). */
async function tableDdl(knex: Knex, tables: readonly string[], from: string): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>();
  for (const table of tables) {
    const rows = (await knex.raw(`select type, sql from ${from}.sqlite_master where tbl_name = ? and sql is not null order by type desc`, [
      table,
    ])) as MasterRow[];
    if (rows.some((r) => r.type === 'table')) found.set(table, rows.map((r) => r.sql)); // 'table' sorts before 'index'
  }
  return found;
}

/**
 * Moves tables (columns, indexes, rows) from schema `from` to `to` in two transactions: the copies, made
 * durable (the target fsyncs at commit for this), then the drops. Cut short between the two, both are left and
 * the migration is unrecorded; the next run drops the copies and copies again.
 */
async function moveTables(knex: Knex, tables: readonly string[], from: string, to: string): Promise<void> {
  const ddl = await tableDdl(knex, tables, from);
  if (ddl.size === 0) return;
  await knex.raw(`pragma ${SCHEMA}.synchronous = FULL`);
  try {
    await knex.transaction(async (trx) => {
      for (const [table, statements] of ddl) {
        await trx.raw(`drop table if exists ${to}."${table}"`);
        for (const sql of statements) await trx.raw(inSchema(sql, to));
        await trx.raw(`insert into ${to}."${table}" select * from ${from}."${table}"`);
      }
    });
    await knex.transaction(async (trx) => {
      for (const table of ddl.keys()) await trx.raw(`drop table ${from}."${table}"`);
    });
  } finally {
    await knex.raw(`pragma ${SCHEMA}.synchronous = NORMAL`);
  }
}

// Two transactions of its own (moveTables), not knex's one around the whole migration.
export const config = { transaction: false };

export async function up(knex: Knex): Promise<void> {
  if (!isSqlite(knex)) return;
  // A knex made without src/store/db.ts (no transient file attached): the tables stay where they are.
  const to = (await attached(knex)) ? SCHEMA : 'main';
  if (to !== 'main') await moveTables(knex, TABLES, 'main', to);
  await knex.raw(RATE_LIMITS.replace('%s', to));
}

export async function down(knex: Knex): Promise<void> {
  if (!isSqlite(knex) || !(await attached(knex))) return;
  await moveTables(knex, TABLES, SCHEMA, 'main');
}
