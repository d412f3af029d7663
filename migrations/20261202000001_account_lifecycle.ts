import type { Knex } from 'knex';

/**
 * users.email_verified: the address was confirmed with a single-use link (src/account/lifecycle.ts); the ID
 * token's and userinfo's `email_verified` claim reads it. Existing users start unverified — that is what their
 * tokens said until now (the claim was always false); the demo seed marks its user verified, and a user can
 * ask for a link on /account. A pending e-mail change is not a column: the new address travels in the
 * verification link's grant and replaces `email` only when that link is used.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.boolean('email_verified').notNullable().defaultTo(false);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('email_verified');
  });
}
