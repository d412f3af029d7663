import knexf from 'knex';
import pg from 'pg';
const mode = process.argv[2];
const N = 2000;
if (mode === 'knex') {
  const knex = knexf({ client: 'pg', connection: 'postgres://postgres@127.0.0.1:5432/postgres', pool: { min: 1, max: 4 } });
  await knex.raw('select 1');
  for (let i = 0; i < N; i++) await knex('pg_class').where({ oid: 1259 }).first('relname');
} else {
  const client = new pg.Client('postgres://postgres@127.0.0.1:5432/postgres'); await client.connect();
  for (let i = 0; i < N; i++) await client.query('select relname from pg_class where oid = $1 limit 1', [1259]);
}
process.exit(0);
