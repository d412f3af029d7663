/**
 * The store matrix every integration test runs on: embedded SQLite always, PostgreSQL + Redis when
 * TEST_DATABASE_URL / TEST_REDIS_URL are set (scripts/test.mjs reports loudly when they are not;
 * .ci/run requires them). Each setup gets a fresh database and a unique Redis key prefix.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import knexFactory from 'knex';

export interface StoreSetup {
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

export interface StoreKind {
  name: 'sqlite' | 'postgres+redis';
  setup(): Promise<StoreSetup>;
}

const secretsEnv = () => ({
  STEPWISE_COOKIE_KEYS: randomBytes(32).toString('base64url'),
  STEPWISE_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
});

export const sqliteStore: StoreKind = {
  name: 'sqlite',
  async setup() {
    const dir = mkdtempSync(join(tmpdir(), 'stepwise-test-'));
    return {
      env: { DATABASE_URL: join(dir, 'test.sqlite'), ...secretsEnv() },
      async cleanup() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

export const postgresRedisStore: StoreKind = {
  name: 'postgres+redis',
  async setup() {
    const base = process.env.TEST_DATABASE_URL!;
    const name = `stepwise_t_${randomBytes(6).toString('hex')}`;
    const admin = knexFactory({ client: 'pg', connection: base, pool: { min: 0, max: 1 } });
    await admin.raw(`create database ${name}`);
    await admin.destroy();
    const url = new URL(base);
    url.pathname = `/${name}`;
    return {
      env: {
        DATABASE_URL: url.toString(),
        REDIS_URL: process.env.TEST_REDIS_URL!,
        REDIS_PREFIX: `t${randomBytes(6).toString('hex')}:`,
        ...secretsEnv(),
      },
      async cleanup() {
        const a = knexFactory({ client: 'pg', connection: base, pool: { min: 0, max: 1 } });
        await a.raw(`drop database if exists ${name} with (force)`);
        await a.destroy();
      },
    };
  },
};

export const hasPostgresRedis = Boolean(process.env.TEST_DATABASE_URL && process.env.TEST_REDIS_URL);

/** Stores to run against: SQLite, plus PostgreSQL + Redis when configured. */
export const storeMatrix: StoreKind[] = hasPostgresRedis ? [sqliteStore, postgresRedisStore] : [sqliteStore];
