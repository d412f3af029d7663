/**
 * Redis behind Sentinel (REDIS_SENTINELS): REDIS_URL names the master group, ioredis asks the Sentinels for
 * the primary. The Sentinel here is a local server speaking the protocol, pointing at the suite's real Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { makeRp, makeUser, signIn } from '../helpers/rp.js';
import { startFakeSentinel, type FakeSentinel } from '../helpers/fake-sentinel.js';
import { loadConfig } from '../../src/config/index.js';

describe('REDIS_SENTINELS configuration', () => {
  const base = { NODE_ENV: 'test', DATABASE_URL: ':memory:' };
  it('parses the Sentinel list; the master group is REDIS_URL’s host', () => {
    const c = loadConfig({ ...base, REDIS_URL: 'redis://:pw@mymaster/2', REDIS_SENTINELS: 's1.example:26380, 10.0.0.2,[::1]:5000', REDIS_SENTINEL_PASSWORD: 'sp' });
    expect(c.redisSentinel).toEqual({
      name: 'mymaster',
      sentinels: [{ host: 's1.example', port: 26380 }, { host: '10.0.0.2', port: 26379 }, { host: '::1', port: 5000 }],
      sentinelPassword: 'sp',
    });
    expect(loadConfig({ ...base, REDIS_URL: 'redis://h:6379' }).redisSentinel).toBeUndefined();
  });
  it('refuses a Sentinel list without REDIS_URL, or with a bad entry', () => {
    expect(() => loadConfig({ ...base, REDIS_SENTINELS: 'h:26379' })).toThrow(/^REDIS_SENTINELS: needs REDIS_URL/);
    expect(() => loadConfig({ ...base, REDIS_URL: 'redis://m', REDIS_SENTINELS: 'h:26379,bad host' })).toThrow(/^REDIS_SENTINELS: expected host:port.*"bad host"/);
    expect(() => loadConfig({ ...base, REDIS_URL: 'redis://m', REDIS_SENTINELS: 'h:99999' })).toThrow(/^REDIS_SENTINELS/);
  });
});

describe.each(storeMatrix.filter((k) => k.name === 'postgres+redis'))('Redis through Sentinel on $name', (kind) => {
  let sentinel: FakeSentinel;
  let srv: TestServer;
  beforeAll(async () => {
    const real = new URL(process.env.TEST_REDIS_URL!);
    sentinel = await startFakeSentinel({ name: 'mymaster', master: { host: real.hostname, port: Number(real.port || 6379) }, password: 'sentinel-secret' });
    const viaSentinel = new URL(real.toString());
    viaSentinel.hostname = 'mymaster';
    viaSentinel.port = '';
    srv = await startTestServer(kind, { REDIS_URL: viaSentinel.toString(), REDIS_SENTINELS: `127.0.0.1:${sentinel.port}`, REDIS_SENTINEL_PASSWORD: 'sentinel-secret' });
  });
  afterAll(async () => {
    await srv?.close();
    await sentinel?.close();
  });

  it('finds the primary through the Sentinel and keeps sessions there', async () => {
    const rp = await makeRp(srv);
    const u = await makeUser(srv);
    const { tokens } = await signIn(srv, rp, u.email);
    expect(tokens.access_token).toBeTruthy();
    expect(sentinel.commands).toContainEqual(['auth', 'sentinel-secret']);
    expect(sentinel.commands.map((c) => c.slice(0, 3).join(' ').toLowerCase())).toContain('sentinel get-master-addr-by-name mymaster');
    const direct = new Redis(process.env.TEST_REDIS_URL!);
    try {
      const keys = await direct.keys(`${srv.env.REDIS_PREFIX}oidc:Session:*`);
      expect(keys.length).toBeGreaterThan(0);
    } finally {
      direct.disconnect();
    }
  });
});
