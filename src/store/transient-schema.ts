/**
 * The embedded default's transient tables (src/store/db.ts attaches their file as `transient`), created at
 * every connection when missing: the file holds only state that may be lost — what Redis holds otherwise —
 * so a deleted file, or a main file restored from a backup without it, comes back empty instead of failing
 * every request. Same columns and indexes as migration 20261123000001_initial (oidc_payloads, ephemeral) and
 * rate-limiter-flexible (rate_limits); migration 20261203000001_transient_state moved existing tables here with
 * their rows. A change to one of these tables needs a migration, as any other, and the statement here to match.
 */
export const TRANSIENT_SCHEMA = 'transient';

const T = TRANSIENT_SCHEMA;
const TRANSIENT_DDL = [
  `create table if not exists ${T}.oidc_payloads (model varchar(64) not null, id varchar(255) not null, payload text not null,
     grant_id varchar(255), user_code varchar(255), uid varchar(255), expires_at bigint, consumed_at bigint, primary key (model, id))`,
  `create index if not exists ${T}.oidc_payloads_grant_id_index on oidc_payloads (grant_id)`,
  `create index if not exists ${T}.oidc_payloads_uid_index on oidc_payloads (uid)`,
  `create index if not exists ${T}.oidc_payloads_expires_at_index on oidc_payloads (expires_at)`,
  `create table if not exists ${T}.ephemeral (key varchar(255) not null primary key, value text not null, expires_at bigint not null)`,
  `create index if not exists ${T}.ephemeral_expires_at_index on ephemeral (expires_at)`,
  `create table if not exists ${T}.rate_limits (key TEXT PRIMARY KEY, points INTEGER NOT NULL DEFAULT 0, expire INTEGER)`,
];

/** The tables, on a better-sqlite3 connection that has the transient file attached. */
export function ensureTransientTables(conn: { exec(sql: string): unknown }): void {
  for (const sql of TRANSIENT_DDL) conn.exec(sql);
}
