import type { Knex } from 'knex';

/**
 * Admin service state. `pending_actions`: four-eyes actions (src/admin/pending.ts) — the serialized action,
 * who asked, its status (pending → approved → executed | failed, or rejected / expired), who decided and
 * when. The status change is one conditional UPDATE, so of two racing approvals exactly one executes.
 * `client_previous_secrets`: a rotated client secret that keeps working until `expires_at` (the overlap
 * window, src/admin/secret-overlap.ts), sealed like the current one.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('pending_actions', (t) => {
    t.string('id', 64).primary();
    t.string('kind', 64).notNullable();
    t.text('action').notNullable();
    t.text('summary').notNullable();
    t.string('requested_by', 200).notNullable();
    t.string('status', 16).notNullable();
    t.string('decided_by', 200);
    t.text('result');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.bigInteger('decided_at');
    t.bigInteger('executed_at');
    t.index(['status', 'created_at']);
  });

  await knex.schema.createTable('client_previous_secrets', (t) => {
    t.string('client_id', 128).primary().references('client_id').inTable('clients').onDelete('CASCADE');
    t.text('secret_enc').notNullable();
    t.bigInteger('expires_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('client_previous_secrets');
  await knex.schema.dropTableIfExists('pending_actions');
}
