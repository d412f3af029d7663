/** The throttling rules as pure logic: the stranger delay table, and how an Attempt counts and gives back points. */
import { describe, expect, it } from 'vitest';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { Attempt, Throttle, ThrottledError, defaultRules, strangerDelaySeconds, throttleKeyPrefix, throttled, type ThrottleRule } from '../../src/security/rate-limit.js';
import { AppError } from '../../src/errors/index.js';

const memory = (rule: ThrottleRule) =>
  new Throttle(rule, new RateLimiterMemory({ keyPrefix: rule.name, points: rule.points, duration: rule.durationSeconds, blockDuration: rule.blockSeconds }));
const rule = (points: number, blockSeconds = 900): ThrottleRule => ({ name: `t${Math.random()}`, points, durationSeconds: 3600, blockSeconds });
const wrong = () => Promise.reject(new AppError('invalid_credentials'));
const isWrong = (e: unknown) => e instanceof AppError && e.code === 'invalid_credentials';

describe('strangerDelaySeconds', () => {
  const r = defaultRules(10).strangerDelay;
  it('is free for the first failures, then doubles from 1 s, capped at 15 minutes', () => {
    expect(r).toEqual({ freeFailures: 5, baseSeconds: 1, maxSeconds: 900 });
    const table = Array.from({ length: 18 }, (_, i) => strangerDelaySeconds(i, r));
    expect(table).toEqual([0, 0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]);
    expect(strangerDelaySeconds(100, r)).toBe(900);
    expect(strangerDelaySeconds(10_000, r)).toBe(900);
    expect(strangerDelaySeconds(Number.NaN, r)).toBe(0);
  });
  it('follows the rule it is given', () => {
    expect([3, 4, 5, 6].map((n) => strangerDelaySeconds(n, { freeFailures: 3, baseSeconds: 10, maxSeconds: 25 }))).toEqual([0, 10, 20, 25]);
  });
});

describe('defaultRules', () => {
  it('keeps LOGIN_MAX_FAILURES per account+IP and per account+device per 15 minutes, 100 per account and hour', () => {
    const { throttles: t } = defaultRules(7);
    expect(t.loginAccountIp).toMatchObject({ points: 7, durationSeconds: 900, blockSeconds: 900 });
    expect(t.loginAccountDevice).toMatchObject({ points: 7, durationSeconds: 900, blockSeconds: 900 });
    expect(t.loginAccount).toMatchObject({ points: 100, durationSeconds: 3600 });
    expect(t.factorAccount).toMatchObject({ points: 7, blockSeconds: 900 });
    expect(t.loginStrangerGate.points).toBe(1);
  });
});

describe('Attempt', () => {
  it('counts before the check: of 20 parallel wrong guesses only `points` are checked; the first refused starts the block', async () => {
    const t = memory(rule(5));
    let checks = 0;
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () =>
        throttled([{ throttle: t, key: 'k', onSuccess: 'reset' }], () => {
          checks++;
          return wrong();
        }, isWrong),
      ),
    );
    expect(checks).toBe(5);
    expect(results.filter((r) => r.status === 'rejected' && r.reason instanceof ThrottledError)).toHaveLength(15);
    const state = await t.peek('k');
    expect(state.blocked).toBe(true);
    expect(state.msBeforeNext).toBeGreaterThan(899_000);
  });

  it('success refunds or resets; an uncounted error gives the point back; a refusal releases earlier charges', async () => {
    const a = memory(rule(3));
    const b = memory(rule(3));
    await a.consume('k');
    await b.consume('k');
    await throttled([{ throttle: a, key: 'k', onSuccess: 'refund' }, { throttle: b, key: 'k', onSuccess: 'reset' }], async () => 'ok', isWrong);
    expect((await a.peek('k')).consumed).toBe(1); // refunded: the earlier failure stays
    expect((await b.peek('k')).consumed).toBe(0); // reset

    await expect(throttled([{ throttle: a, key: 'k', onSuccess: 'refund' }], () => Promise.reject(new AppError('store_unavailable')), isWrong)).rejects.toThrow();
    expect((await a.peek('k')).consumed).toBe(1);

    for (let i = 0; i < 3; i++) await b.consume('full').catch(() => undefined);
    const attempt = new Attempt();
    await attempt.charge({ throttle: a, key: 'k', onSuccess: 'refund' });
    expect((await a.peek('k')).consumed).toBe(2);
    await expect(attempt.charge({ throttle: b, key: 'full', onSuccess: 'refund' })).rejects.toBeInstanceOf(ThrottledError);
    expect((await a.peek('k')).consumed).toBe(1);
  });

  it('runs onFailure after a counted failure only', async () => {
    const t = memory(rule(10));
    const calls: string[] = [];
    const charge = { throttle: t, key: 'k', onSuccess: 'refund' as const, onFailure: async () => void calls.push('failed') };
    await expect(throttled([charge], wrong, isWrong)).rejects.toThrow();
    await expect(throttled([charge], () => Promise.reject(new Error('other')), isWrong)).rejects.toThrow('other');
    await throttled([charge], async () => 1, isWrong);
    expect(calls).toEqual(['failed']);
    expect((await t.peek('k')).consumed).toBe(1);
  });

  it('says when to come back, in seconds or minutes', () => {
    expect(new ThrottledError(400).message).toBe('Too many attempts. Try again in 1 second.');
    expect(new ThrottledError(4_000).message).toBe('Too many attempts. Try again in 4 seconds.');
    expect(new ThrottledError(900_000).message).toBe('Too many attempts. Try again in 15 minutes.');
    expect(new ThrottledError(900_000).status).toBe(429);
  });
});

describe('throttleKeyPrefix', () => {
  it('uses REDIS_PREFIX as given, so a: and a_ never share counters', () => {
    expect(throttleKeyPrefix('a:', 'login_ip')).toBe('a:rl:login_ip');
    expect(throttleKeyPrefix('a_', 'login_ip')).toBe('a_rl:login_ip');
    expect(throttleKeyPrefix('a:', 'login_ip')).not.toBe(throttleKeyPrefix('a_', 'login_ip'));
    expect(throttleKeyPrefix(undefined, 'x')).toBe('stepwise:rl:x');
  });
});
