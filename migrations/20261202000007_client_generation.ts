import type { Knex } from 'knex';

/**
 * A change counter for the clients table, kept by the database itself (triggers), so every running IdP
 * process can cache client records across requests and still see any change at once — made by the CLI, the
 * admin API of another instance, or an operator's SQL (src/store/client-generation.ts). PostgreSQL also
 * announces each change on the `stepwise_clients` channel (NOTIFY is delivered on commit).
 */
const SQLITE_EVENTS = ['insert', 'update', 'delete'] as const;

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('cache_generations', (t) => {
    t.string('name', 32).primary();
    t.bigInteger('generation').notNullable().defaultTo(0);
  });
  await knex('cache_generations').insert({ name: 'clients', generation: 0 });
  if (knex.client.config.client === 'pg') {
    await knex.raw(`
      create or replace function stepwise_clients_changed() returns trigger language plpgsql as $$
      begin
        update cache_generations set generation = generation + 1 where name = 'clients';
        perform pg_notify('stepwise_clients', '');
        return null;
      end $$`);
    await knex.raw(`create trigger clients_generation after insert or update or delete or truncate on clients
      for each statement execute function stepwise_clients_changed()`);
    return;
  }
  for (const event of SQLITE_EVENTS) {
    await knex.raw(`create trigger clients_generation_${event} after ${event} on clients
      begin update cache_generations set generation = generation + 1 where name = 'clients'; end`);
  }
}

export async function down(knex: Knex): Promise<void> {
  if (knex.client.config.client === 'pg') {
    await knex.raw('drop trigger if exists clients_generation on clients');
    await knex.raw('drop function if exists stepwise_clients_changed()');
  } else {
    for (const event of SQLITE_EVENTS) await knex.raw(`drop trigger if exists clients_generation_${event}`);
  }
  await knex.schema.dropTableIfExists('cache_generations');
}
