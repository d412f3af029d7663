import type { Knex } from 'knex';

/**
 * users.is_admin: the admin console role (`stepwise users grant-admin EMAIL` / `revoke-admin`). A boolean
 * rather than a roles table: there is one role, and a user either holds it or not.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.boolean('is_admin').notNullable().defaultTo(false);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('is_admin');
  });
}
