import type { Knex } from 'knex';

/**
 * Signed audit checkpoints (src/audit/checkpoint.ts): the head of the hash chain (seq, hash, cumulative
 * count) at a time, signed with the audit Ed25519 key. A convenience copy only: verification trusts a stored
 * checkpoint for its signature, never for its presence — the log stream and exports are the anchors.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_checkpoints', (t) => {
    t.increments('id').primary();
    t.string('kind', 16).notNullable();
    t.bigInteger('seq').notNullable();
    t.string('hash', 64).notNullable();
    t.bigInteger('count').notNullable();
    t.bigInteger('at').notNullable();
    t.string('key_id', 32).notNullable();
    t.string('sig', 128).notNullable();
    t.index(['kind', 'seq']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('audit_checkpoints');
}
