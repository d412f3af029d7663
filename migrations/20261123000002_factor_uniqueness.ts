import type { Knex } from 'knex';

/**
 * At most one pending enrollment per user and kind, and one backup-code set per user, enforced by the
 * database so two racing requests cannot both create one (partial unique indexes: SQLite and PostgreSQL).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create unique index factors_one_pending_per_kind on factors (user_id, kind) where status = 'pending'`);
  await knex.raw(`create unique index factors_one_backup_set on factors (user_id) where kind = 'backup_code'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists factors_one_pending_per_kind');
  await knex.raw('drop index if exists factors_one_backup_set');
}
