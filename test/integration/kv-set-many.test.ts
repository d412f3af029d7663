/**
 * KvStore.setMany on both stores (src/store/kv.ts): several keys in one call — one SQL statement on the SQL
 * store, one pipeline on Redis — each with its own expiry; a key given twice keeps its last value. It is
 * what the per-request write-behind (src/store/kv-write-behind.ts) stores a request's last values with.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Context } from 'koa';
import { Redis } from 'ioredis';
import { storeMatrix } from '../helpers/stores.js';
import { recordRedisCommands } from '../helpers/redis-commands.js';
import { testDb, type TestDb } from '../helpers/db.js';
import { RedisKv, SqlKv, type KvStore } from '../../src/store/kv.js';
import { deferWritesPerRequest, flushKvWritesPerRequest } from '../../src/store/kv-write-behind.js';

describe.each(storeMatrix)('KvStore.setMany on $name', (kind) => {
  let t: TestDb;
  let kv: KvStore;
  let redis: Redis | undefined;
  let clock = 1_800_000_000_000;
  const calls: string[] = []; // SQL statements or Redis commands sent
  let pipelines = 0; // Redis: round trips that carried several commands
  const sent = () => calls.filter((c) => !/^select|^get\b/i.test(c));

  beforeAll(async () => {
    t = await testDb(kind);
    if (kind.name === 'sqlite') {
      kv = new SqlKv(t.db, () => clock);
      t.db.on('query', (q: { sql: string }) => calls.push(q.sql));
    } else {
      redis = new Redis(t.env.REDIS_URL!);
      kv = new RedisKv(redis, t.env.REDIS_PREFIX);
      recordRedisCommands(redis, calls);
      const pipeline = redis.pipeline.bind(redis);
      redis.pipeline = ((...args: Parameters<typeof pipeline>) => {
        pipelines++;
        return pipeline(...args);
      }) as typeof redis.pipeline;
      await redis.ping(); // connected: the handshake's own commands are behind us
    }
  });
  afterAll(async () => {
    await redis?.quit();
    await t?.cleanup();
  });

  it('stores every entry with its own expiry in one call; the last of a repeated key wins', async () => {
    calls.length = 0;
    await kv.setMany([
      { key: 'many:a', value: 'A', ttlSeconds: 60 },
      { key: 'many:b', value: 'B', ttlSeconds: 1 },
      { key: 'many:a', value: 'A2', ttlSeconds: 60 },
    ]);
    if (kind.name === 'sqlite') expect(sent()).toHaveLength(1);
    else expect(sent()).toEqual(['set', 'set', 'set']);
    expect(await kv.get('many:a')).toBe('A2');
    expect(await kv.get('many:b')).toBe('B');
    if (kind.name === 'sqlite') {
      clock += 2000; // the SQL store judges expiry by its clock
      expect(await kv.get('many:b')).toBeNull();
      expect(await kv.get('many:a')).toBe('A2');
    } else {
      expect(await redis!.ttl(`${t.env.REDIS_PREFIX}many:b`)).toBeLessThanOrEqual(1);
      expect(await redis!.ttl(`${t.env.REDIS_PREFIX}many:a`)).toBeGreaterThan(50);
    }
    await kv.setMany([]); // nothing to store: no call
  });

  it("stores a request's deferred sign-in state in one call", async () => {
    const signIn = deferWritesPerRequest(kv, ['authctx:', 'keep:']);
    calls.length = 0;
    pipelines = 0;
    await flushKvWritesPerRequest()({} as Context, async () => {
      await signIn.set('authctx:r1', 'ctx', 60);
      await signIn.set('keep:r1', '1', 60);
      expect(sent()).toHaveLength(0); // held until the request's handlers are done
    });
    if (kind.name === 'sqlite') expect(sent()).toEqual([expect.stringMatching(/^insert into .ephemeral/)]);
    else {
      expect(sent()).toEqual(['set', 'set']);
      expect(pipelines).toBe(1);
    }
    expect(await kv.get('authctx:r1')).toBe('ctx');
    expect(await kv.get('keep:r1')).toBe('1');
  });
});
