import type { Knex } from 'knex';

/** Portable schema: runs unchanged on SQLite and PostgreSQL. Timestamps are epoch milliseconds. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    t.string('id', 64).primary();
    t.string('email', 320).notNullable().unique();
    t.string('name', 200);
    t.text('password_hash').notNullable();
    t.boolean('disabled').notNullable().defaultTo(false);
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
  });

  await knex.schema.createTable('factors', (t) => {
    t.string('id', 64).primary();
    t.string('user_id', 64).notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.string('kind', 32).notNullable();
    t.string('name', 100).notNullable();
    t.string('status', 16).notNullable();
    t.text('secret_enc');
    t.string('credential_id', 1024).unique();
    t.text('public_key');
    t.bigInteger('counter');
    t.bigInteger('last_used_step');
    t.text('meta').notNullable().defaultTo('{}');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('last_used_at');
    t.index(['user_id']);
  });

  await knex.schema.createTable('backup_codes', (t) => {
    t.string('id', 64).primary();
    t.string('user_id', 64).notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.string('batch_id', 64).notNullable();
    t.string('lookup', 64).notNullable();
    t.text('code_hash').notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('used_at');
    t.index(['user_id', 'lookup']);
  });

  await knex.schema.createTable('clients', (t) => {
    t.string('client_id', 128).primary();
    t.text('secret_enc');
    t.text('metadata').notNullable();
    t.boolean('first_party').notNullable().defaultTo(false);
    t.bigInteger('created_at').notNullable();
  });

  await knex.schema.createTable('signing_keys', (t) => {
    t.string('kid', 128).primary();
    t.string('alg', 16).notNullable();
    t.text('jwk_enc').notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('retired_at');
  });

  await knex.schema.createTable('audit_events', (t) => {
    t.increments('seq').primary();
    t.string('id', 64).notNullable().unique();
    t.bigInteger('at').notNullable();
    t.string('type', 64).notNullable();
    t.string('outcome', 16).notNullable();
    t.string('user_id', 64);
    t.string('client_id', 128);
    t.string('ip', 64);
    t.text('details').notNullable();
    t.string('prev_hash', 64).notNullable();
    t.string('hash', 64).notNullable();
    t.index(['user_id', 'at']);
  });

  // oidc-provider artifacts and short-lived state when no Redis is configured (embedded mode).
  await knex.schema.createTable('oidc_payloads', (t) => {
    t.string('model', 64).notNullable();
    t.string('id', 255).notNullable();
    t.text('payload').notNullable();
    t.string('grant_id', 255);
    t.string('user_code', 255);
    t.string('uid', 255);
    t.bigInteger('expires_at');
    t.bigInteger('consumed_at');
    t.primary(['model', 'id']);
    t.index(['grant_id']);
    t.index(['uid']);
    t.index(['expires_at']);
  });

  await knex.schema.createTable('ephemeral', (t) => {
    t.string('key', 255).primary();
    t.text('value').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.index(['expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['ephemeral', 'oidc_payloads', 'audit_events', 'signing_keys', 'clients', 'backup_codes', 'factors', 'users']) {
    await knex.schema.dropTableIfExists(table);
  }
}
