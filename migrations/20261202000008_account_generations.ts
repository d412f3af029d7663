import type { Knex } from 'knex';

/**
 * Change counters for `users` and `factors`, as …07 made for `clients`: every running process may cache a
 * user's record and factor list across requests (src/store/table-generations.ts) and still see any change at
 * once — a disabled account, revoked tokens (`tokens_valid_after`), a removed factor. Row-level triggers: a
 * statement that changes nothing announces nothing. PostgreSQL: NOTIFY `stepwise_changes` with the table's
 * name (delivered on commit, one per transaction and table); SQLite: a counter row per table.
 */
const TABLES = ['users', 'factors'] as const;
const SQLITE_EVENTS = ['insert', 'update', 'delete'] as const;

export async function up(knex: Knex): Promise<void> {
  await knex('cache_generations').insert(TABLES.map((name) => ({ name, generation: 0 })));
  if (knex.client.config.client === 'pg') {
    await knex.raw(`
      create or replace function stepwise_table_changed() returns trigger language plpgsql as $$
      begin
        perform pg_notify('stepwise_changes', tg_table_name);
        return null;
      end $$`);
    for (const table of TABLES) {
      await knex.raw(`create trigger ${table}_generation after insert or update or delete on ${table} for each row execute function stepwise_table_changed()`);
      await knex.raw(`create trigger ${table}_generation_truncate after truncate on ${table} for each statement execute function stepwise_table_changed()`);
    }
    return;
  }
  for (const table of TABLES) {
    for (const event of SQLITE_EVENTS) {
      await knex.raw(`create trigger ${table}_generation_${event} after ${event} on ${table}
        begin update cache_generations set generation = generation + 1 where name = '${table}'; end`);
    }
  }
}

export async function down(knex: Knex): Promise<void> {
  if (knex.client.config.client === 'pg') {
    for (const table of TABLES) {
      await knex.raw(`drop trigger if exists ${table}_generation on ${table}`);
      await knex.raw(`drop trigger if exists ${table}_generation_truncate on ${table}`);
    }
    await knex.raw('drop function if exists stepwise_table_changed()');
  } else {
    for (const table of TABLES) for (const event of SQLITE_EVENTS) await knex.raw(`drop trigger if exists ${table}_generation_${event}`);
  }
  await knex('cache_generations').whereIn('name', [...TABLES]).del();
}
