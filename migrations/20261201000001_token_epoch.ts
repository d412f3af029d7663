import type { Knex } from 'knex';

/**
 * users.tokens_valid_after (epoch ms): grants saved before it are dead, so every token of the user ends at
 * once (factor removed, password changed or reset). Null: never ended.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.bigInteger('tokens_valid_after');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('tokens_valid_after');
  });
}
