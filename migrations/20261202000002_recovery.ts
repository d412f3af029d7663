import type { Knex } from 'knex';

/**
 * Admin-initiated account recoveries (src/recovery/). One row per recovery: who asked for it, why and on what
 * evidence, and its timeline (created → effective after the policy's recovery_timeout → sign-in link used →
 * new factor enrolled; or cancelled / expired). `status` is the last state written; the pure
 * `recoveryStatus()` derives the current one from the times. At most one open recovery per user (partial
 * unique index, SQLite and PostgreSQL).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('recoveries', (t) => {
    t.string('id', 64).primary();
    t.string('user_id', 64).notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.string('status', 16).notNullable();
    t.text('reason').notNullable();
    t.string('evidence', 500).notNullable();
    t.string('requested_by', 200).notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('effective_at').notNullable();
    t.bigInteger('signin_sent_at');
    t.bigInteger('signin_expires_at');
    t.bigInteger('used_at');
    t.bigInteger('completed_at');
    t.bigInteger('cancelled_at');
    t.string('cancelled_by', 200);
    t.bigInteger('expired_at');
    t.index(['user_id', 'created_at']);
    t.index(['status', 'effective_at']);
  });
  await knex.raw(`create unique index recoveries_one_open on recoveries (user_id) where status in ('pending', 'effective', 'used')`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists recoveries_one_open');
  await knex.schema.dropTableIfExists('recoveries');
}
