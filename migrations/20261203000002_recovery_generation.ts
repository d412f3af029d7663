import type { Knex } from 'knex';

/**
 * A change counter for `recoveries`, as …08 made for `users` and `factors`: every sign-in asks whether its user
 * has an open recovery (src/recovery/enrollment.ts), and the answer is almost always "none", which is cached
 * across requests (src/store/shared-cache.ts, misses kept) until any change to the table — a recovery
 * started, cancelled, swept or used, by this process or any other — moves the counter. The PostgreSQL trigger
 * function is …08's (NOTIFY `stepwise_changes` with the table's name).
 */
const TABLE = 'recoveries';
const SQLITE_EVENTS = ['insert', 'update', 'delete'] as const;

export async function up(knex: Knex): Promise<void> {
  await knex('cache_generations').insert({ name: TABLE, generation: 0 });
  if (knex.client.config.client === 'pg') {
    await knex.raw(`create trigger ${TABLE}_generation after insert or update or delete on ${TABLE} for each row execute function stepwise_table_changed()`);
    await knex.raw(`create trigger ${TABLE}_generation_truncate after truncate on ${TABLE} for each statement execute function stepwise_table_changed()`);
    return;
  }
  for (const event of SQLITE_EVENTS) {
    await knex.raw(`create trigger ${TABLE}_generation_${event} after ${event} on ${TABLE}
      begin update cache_generations set generation = generation + 1 where name = '${TABLE}'; end`);
  }
}

export async function down(knex: Knex): Promise<void> {
  if (knex.client.config.client === 'pg') {
    await knex.raw(`drop trigger if exists ${TABLE}_generation on ${TABLE}`);
    await knex.raw(`drop trigger if exists ${TABLE}_generation_truncate on ${TABLE}`);
  } else {
    for (const event of SQLITE_EVENTS) await knex.raw(`drop trigger if exists ${TABLE}_generation_${event}`);
  }
  await knex('cache_generations').where({ name: TABLE }).del();
}
