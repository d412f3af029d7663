import type { Knex } from 'knex';

/**
 * users.locale: the user's language (a supported BCP 47 tag such as `de`), remembered when they sign in
 * with a language preference (ui_locales, the switcher cookie or Accept-Language) and when they use the
 * language switcher while signed in. Mails sent without a request of theirs (the recovery sign-in link, the
 * background sweep, an admin's reset) go out in it. NULL: never known — English.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.string('locale', 35).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('locale');
  });
}
