/**
 * The Redis adapter's indexes (src/oidc/adapters.ts): a grant's token list and an account's session set live
 * as long as their longest-lived member — a longer token lengthens the index's time to live, a shorter one
 * never shortens it — and that is set inside the upsert's one MULTI, with no TTL read of its own before it
 * (it was a round trip per token and per session save). Redis only: the SQL adapter keeps no index keys.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { storeMatrix } from '../helpers/stores.js';
import { recordRedisCommands } from '../helpers/redis-commands.js';
import { testDb, type TestDb } from '../helpers/db.js';
import { RedisAdapter } from '../../src/oidc/adapters.js';

const redisStore = storeMatrix.find((k) => k.name === 'postgres+redis')!;

describe('Redis adapter indexes', () => {
  let t: TestDb;
  let redis: Redis;
  let prefix: string;
  const commands: string[] = [];

  beforeAll(async () => {
    t = await testDb(redisStore);
    redis = new Redis(t.env.REDIS_URL!);
    prefix = `${t.env.REDIS_PREFIX}oidc:`;
    recordRedisCommands(redis, commands);
    await redis.ping(); // connected: no command is queued offline and sent twice
  });
  afterAll(async () => {
    redis?.disconnect();
    await t?.cleanup();
  });

  it("a grant's token list lives as long as its longest-lived token, set in the token's MULTI", async () => {
    const tokens = new RedisAdapter('AccessToken', redis, prefix);
    const refresh = new RedisAdapter('RefreshToken', redis, prefix);
    const grantKey = `${prefix}grant:g1`;

    commands.length = 0;
    await tokens.upsert('at1', { grantId: 'g1', kind: 'AccessToken' }, 600);
    expect(commands).not.toContain('ttl');
    expect(commands.filter((c) => c === 'exec')).toHaveLength(1);
    expect(await redis.ttl(grantKey)).toBeGreaterThan(590);

    await refresh.upsert('rt1', { grantId: 'g1', kind: 'RefreshToken' }, 86_400);
    expect(await redis.ttl(grantKey)).toBeGreaterThan(86_000);
    // A shorter-lived token of the same grant never shortens the list's life.
    await tokens.upsert('at2', { grantId: 'g1', kind: 'AccessToken' }, 600);
    expect(await redis.ttl(grantKey)).toBeGreaterThan(86_000);
    expect(await redis.lrange(grantKey, 0, -1)).toEqual([`${prefix}AccessToken:at1`, `${prefix}RefreshToken:rt1`, `${prefix}AccessToken:at2`]);

    // And revoking the grant still finds every token through the list.
    await tokens.revokeByGrantId('g1');
    expect(await redis.exists(`${prefix}AccessToken:at1`, `${prefix}RefreshToken:rt1`, `${prefix}AccessToken:at2`, grantKey)).toBe(0);
  });

  it("an account's session set lives as long as its longest session, set in the session's MULTI", async () => {
    const sessions = new RedisAdapter('Session', redis, prefix);
    const setKey = `${prefix}accountSessions:acct-1`;

    commands.length = 0;
    await sessions.upsert('s1', { accountId: 'acct-1', kind: 'Session' }, 3_600);
    expect(commands).not.toContain('ttl');
    expect(await redis.ttl(setKey)).toBeGreaterThan(3_500);
    await sessions.upsert('s2', { accountId: 'acct-1', kind: 'Session' }, 1_209_600);
    expect(await redis.ttl(setKey)).toBeGreaterThan(1_209_000);
    await sessions.upsert('s1', { accountId: 'acct-1', kind: 'Session' }, 3_600);
    expect(await redis.ttl(setKey)).toBeGreaterThan(1_209_000);
    expect((await redis.smembers(setKey)).sort()).toEqual(['s1', 's2']);

    await sessions.destroy('s1');
    expect(await redis.smembers(setKey)).toEqual(['s2']);
  });
});
