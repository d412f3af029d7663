/**
 * Settling an attempt (src/security/rate-limit.ts, Attempt): every charged throttle gets its refund or reset,
 * on both stores; on Redis those commands leave in one socket write (the socket is corked while they are
 * queued) instead of one write per throttle.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { storeMatrix } from '../helpers/stores.js';
import { testDb, type TestDb } from '../helpers/db.js';
import { Attempt, createThrottle, type Throttle } from '../../src/security/rate-limit.js';

describe.each(storeMatrix)('attempt settle on $name', (kind) => {
  let t: TestDb;
  let redis: Redis | undefined;
  let throttles: Throttle[];
  let socketWrites = 0;

  beforeAll(async () => {
    t = await testDb(kind);
    if (kind.name !== 'sqlite') {
      redis = new Redis(t.env.REDIS_URL!);
      await redis.ping();
      // Count what reaches the socket's own write (one call per system call; a corked batch is one _writev).
      const socket = redis.stream as unknown as { _write: (...a: unknown[]) => unknown; _writev: (...a: unknown[]) => unknown };
      const write = socket._write.bind(socket);
      const writev = socket._writev.bind(socket);
      socket._write = (...a: unknown[]) => (socketWrites++, write(...a));
      socket._writev = (...a: unknown[]) => (socketWrites++, writev(...a));
    }
    const stores = { db: t.db, redis, prefix: t.env.REDIS_PREFIX ?? 'settle:' };
    throttles = await Promise.all(['a', 'b', 'c'].map((name) => createThrottle({ name: `settle_${name}`, points: 5, durationSeconds: 600, blockSeconds: 600 }, stores)));
  });
  afterAll(async () => {
    redis?.disconnect();
    await t?.cleanup();
  });

  it('a success refunds or resets every charge; on Redis the settle is one socket write', async () => {
    const [a, b, c] = throttles as [Throttle, Throttle, Throttle];
    for (let i = 0; i < 2; i++) await b.consume('k'); // a reset clears earlier counts too
    const attempt = new Attempt();
    await attempt.charge({ throttle: a, key: 'k', onSuccess: 'refund' });
    await attempt.charge({ throttle: b, key: 'k', onSuccess: 'reset' });
    await attempt.charge({ throttle: c, key: 'k', onSuccess: 'refund' });
    expect((await a.peek('k')).consumed).toBe(1);
    expect((await b.peek('k')).consumed).toBe(3);

    socketWrites = 0;
    await attempt.run(async () => 'ok', () => true);
    if (redis) expect(socketWrites).toBe(1);
    expect([(await a.peek('k')).consumed, (await b.peek('k')).consumed, (await c.peek('k')).consumed]).toEqual([0, 0, 0]);
  });

  it('a refusal by a later throttle gives back the points charged before it', async () => {
    const [a, b] = throttles as [Throttle, Throttle];
    for (let i = 0; i < 5; i++) await b.consume('full');
    const attempt = new Attempt();
    await attempt.charge({ throttle: a, key: 'full', onSuccess: 'refund' });
    await expect(attempt.charge({ throttle: b, key: 'full', onSuccess: 'refund' })).rejects.toMatchObject({ code: 'too_many_attempts' });
    expect((await a.peek('full')).consumed).toBe(0);
  });
});
