import type { Knex } from 'knex';

/**
 * Risk engine state. `devices`: one row per (user, browser) — the browser is known by a hash of its signed
 * device cookie — with first/last seen, user-agent family, last second factor on it and the "remember this
 * device" expiry. `sign_ins`: successful sign-ins (network prefix, GeoIP location) for the network, location
 * and impossible-travel signals. `login_failures`: failed password attempts for the velocity signals.
 * `users.service_account` and `users.first_sign_in_at` serve the enforcement policy.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('devices', (t) => {
    t.string('id', 64).primary();
    t.string('user_id', 64).notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.string('device_hash', 64).notNullable();
    t.string('ua_family', 100).notNullable();
    t.bigInteger('first_seen').notNullable();
    t.bigInteger('last_seen').notNullable();
    t.bigInteger('last_mfa_at');
    t.bigInteger('remembered_until');
    t.unique(['user_id', 'device_hash']);
  });

  await knex.schema.createTable('sign_ins', (t) => {
    t.increments('seq').primary();
    t.string('user_id', 64).notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.bigInteger('at').notNullable();
    t.string('network', 64);
    t.string('country', 8);
    t.string('city', 100);
    t.double('latitude');
    t.double('longitude');
    t.string('device_hash', 64);
    t.index(['user_id', 'at']);
    t.index(['user_id', 'network']);
  });

  await knex.schema.createTable('login_failures', (t) => {
    t.increments('seq').primary();
    t.bigInteger('at').notNullable();
    t.string('ip', 64).notNullable();
    t.string('account', 64).notNullable();
    t.index(['ip', 'at']);
    t.index(['account', 'at']);
  });

  await knex.schema.alterTable('users', (t) => {
    t.boolean('service_account').notNullable().defaultTo(false);
    t.bigInteger('first_sign_in_at');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('service_account');
    t.dropColumn('first_sign_in_at');
  });
  for (const table of ['login_failures', 'sign_ins', 'devices']) await knex.schema.dropTableIfExists(table);
}
