/**
 * Failure throttles (rate-limiter-flexible) on Redis, PostgreSQL or SQLite, and the one way to use them:
 * an `Attempt` counts itself on every throttle that applies *before* the secret is checked (the store's
 * consume is atomic, so N parallel guesses get at most `points` checks), and gives the points back when the
 * check succeeds. The consume that first exceeds a rule starts its block, so the block lasts `blockSeconds`.
 * Verification endpoints fail closed: when the counter store is down, the attempt is refused with
 * store_unavailable instead of going unthrottled.
 */
import type { RateLimiterAbstract, RateLimiterPostgres, RateLimiterRedis, RateLimiterRes, RateLimiterSQLite } from 'rate-limiter-flexible';
import type { Redis } from 'ioredis';
import type { Db } from '../store/db.js';
import { isPostgres } from '../store/db.js';
import { AppError } from '../errors/index.js';
import { lazy } from '../lazy.js';

// The package's index loads all of its ~25 limiters and their helpers (~1 MiB of heap for good); a process
// needs one of these three, and the result class their rejections are (src/lazy.ts).
const limiterModule = <T>(name: string) => lazy<T>(`rate-limiter-flexible/lib/${name}.js`);
const RedisLimiter = limiterModule<typeof RateLimiterRedis>('RateLimiterRedis');
const SQLiteLimiter = limiterModule<typeof RateLimiterSQLite>('RateLimiterSQLite');
const PostgresLimiter = limiterModule<typeof RateLimiterPostgres>('RateLimiterPostgres');
const LimiterResult = limiterModule<typeof RateLimiterRes>('RateLimiterRes');

export interface ThrottleRule {
  name: string;
  points: number;
  durationSeconds: number;
  blockSeconds: number;
}

/** Growing delays for sign-ins from browsers the account has never signed in from (see `strangerDelaySeconds`). */
export interface StrangerDelayRule {
  /** Failures per account (window of the `loginAccount` rule) before delays start. */
  freeFailures: number;
  /** Delay after the first failure past `freeFailures`; it doubles with each further failure. */
  baseSeconds: number;
  maxSeconds: number;
}

/**
 * Every throttling number in one table. NIST 800-63B-4 §3.2.2 caps consecutive failures per account at 100.
 * - loginIp: password/passkey checks per client IP.
 * - loginAccountIp: per account from one IP, for browsers not known to the account.
 * - loginAccountDevice: per account from one known browser (it replaces account+IP, so a shared NAT address
 *   hammered by an attacker does not lock the real user's known browser out).
 * - loginAccount: per account from all unknown browsers together; known browsers are exempt, so an attacker
 *   exhausting it locks out strangers only.
 * - loginStrangerGate: one unknown-browser check per account at a time once the delays have started; a failure
 *   closes it for the growing delay (`block`), the hold expires by itself after `durationSeconds`.
 * - loginStrangerFailures: failed unknown-browser checks per account (counted after the check, never refuses):
 *   sizes the delay exactly, where loginAccount also holds attempts still in flight.
 * - factorAccount: per account and second-factor kind.
 * - smsNumber / smsAccount / smsGlobal: SMS codes sent per phone number (all accounts), per account and in
 *   total (SMS_MAX_PER_HOUR) per clock hour — the key carries the hour, so these durations only bound storage.
 * - smsSendGate: one send per number and previous send (the resend cooldown under racing requests).
 * - smsCodeTries: entries per SMS code; the fifth wrong one kills the code.
 * - passwordResetIp / passwordResetAddress: "forgot password" requests per client IP and per e-mail address
 *   (counted whether or not the address exists, so the limit says nothing about it).
 */
export function defaultRules(maxFailures: number, opts: { smsPerHour?: number } = {}) {
  return {
    throttles: {
      loginIp: { name: 'login_ip', points: 100, durationSeconds: 24 * 3600, blockSeconds: 3600 },
      loginAccountIp: { name: 'login_account_ip', points: maxFailures, durationSeconds: 900, blockSeconds: 900 },
      loginAccountDevice: { name: 'login_account_device', points: maxFailures, durationSeconds: 900, blockSeconds: 900 },
      loginAccount: { name: 'login_account', points: 100, durationSeconds: 3600, blockSeconds: 3600 },
      loginStrangerGate: { name: 'login_stranger_gate', points: 1, durationSeconds: 10, blockSeconds: 0 },
      loginStrangerFailures: { name: 'login_stranger_failures', points: 100, durationSeconds: 3600, blockSeconds: 0 },
      factorAccount: { name: 'factor_account', points: maxFailures, durationSeconds: 3600, blockSeconds: 900 },
      smsNumber: { name: 'sms_number', points: 5, durationSeconds: 2 * 3600, blockSeconds: 0 },
      smsAccount: { name: 'sms_account', points: 10, durationSeconds: 2 * 3600, blockSeconds: 0 },
      smsGlobal: { name: 'sms_global', points: opts.smsPerHour ?? 1000, durationSeconds: 2 * 3600, blockSeconds: 0 },
      smsSendGate: { name: 'sms_send_gate', points: 1, durationSeconds: 120, blockSeconds: 0 },
      smsCodeTries: { name: 'sms_code_tries', points: 5, durationSeconds: 900, blockSeconds: 0 },
      passwordResetIp: { name: 'password_reset_ip', points: 20, durationSeconds: 3600, blockSeconds: 0 },
      passwordResetAddress: { name: 'password_reset_address', points: 3, durationSeconds: 3600, blockSeconds: 0 },
      // Verification / e-mail-change mails per account (/account resend and change).
      verifyEmailAccount: { name: 'verify_email_account', points: 5, durationSeconds: 3600, blockSeconds: 0 },
    } satisfies Record<string, ThrottleRule>,
    strangerDelay: { freeFailures: 5, baseSeconds: 1, maxSeconds: 900 } satisfies StrangerDelayRule,
  };
}

export type ThrottleName = keyof ReturnType<typeof defaultRules>['throttles'];

/**
 * How long unknown browsers must wait after the account's `failures`-th failure from unknown browsers:
 * nothing for the first `freeFailures`, then base, 2·base, 4·base … capped at `maxSeconds`.
 */
export function strangerDelaySeconds(failures: number, rule: StrangerDelayRule): number {
  if (!(failures > rule.freeFailures)) return 0;
  return Math.min(rule.maxSeconds, rule.baseSeconds * 2 ** (failures - rule.freeFailures - 1));
}

/** too_many_attempts with the time until the refusing throttle lets the next attempt through. */
export class ThrottledError extends AppError {
  constructor(readonly retryAfterMs: number) {
    super('too_many_attempts', retryMessage(retryAfterMs));
  }
}

function retryMessage(ms: number): string {
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  if (seconds < 60) return `Too many attempts. Try again in ${seconds} second${seconds === 1 ? '' : 's'}.`;
  const minutes = Math.ceil(seconds / 60);
  return `Too many attempts. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`;
}

const unavailable = (err: unknown) => new AppError('store_unavailable', undefined, undefined, { cause: err });

export interface ThrottleState {
  /** Attempts counted in the current window (or while blocked). */
  consumed: number;
  /** Milliseconds until the window ends or the block is over. */
  msBeforeNext: number;
  /** True while attempts are refused. */
  blocked: boolean;
}

export class Throttle {
  constructor(
    readonly rule: ThrottleRule,
    private readonly limiter: RateLimiterAbstract,
    /** The Redis client the limiter talks to, if any (inOneWrite corks its socket while an attempt is settled). */
    readonly redis?: Redis,
  ) {}

  /**
   * Counts one attempt, atomically in the store. Returns how many attempts the window holds with this one.
   * @throws ThrottledError when over the limit (the first such attempt starts the block); store_unavailable.
   */
  async consume(key: string): Promise<number> {
    try {
      return (await this.limiter.consume(key)).consumedPoints;
    } catch (err) {
      if (err instanceof LimiterResult()) throw new ThrottledError(err.msBeforeNext);
      throw unavailable(err);
    }
  }

  /** Counts one event that already happened (never refuses); returns the window's count with it. */
  async count(key: string): Promise<number> {
    return (await this.call(() => this.limiter.penalty(key, 1))).consumedPoints;
  }

  /** Gives back one counted attempt. */
  async refund(key: string): Promise<void> {
    await this.call(() => this.limiter.reward(key, 1));
  }

  /** Forgets the key: counter and block. */
  async reset(key: string): Promise<void> {
    await this.call(() => this.limiter.delete(key));
  }

  /** Refuses the key for `seconds` from now. */
  async block(key: string, seconds: number): Promise<void> {
    await this.call(() => this.limiter.block(key, seconds));
  }

  /** Read-only look at a key (sizing delays, tests). Never use it to decide whether to check a secret: consume. */
  async peek(key: string): Promise<ThrottleState> {
    const res = await this.call(() => this.limiter.get(key));
    if (!res) return { consumed: 0, msBeforeNext: 0, blocked: false };
    return { consumed: res.consumedPoints, msBeforeNext: res.msBeforeNext, blocked: res.consumedPoints > this.rule.points && res.msBeforeNext > 0 };
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw unavailable(err);
    }
  }
}

/** One throttle an attempt is counted on, and what becomes of that count. */
export interface Charge {
  throttle: Throttle;
  key: string;
  /** After a successful check: give the attempt back ('refund'), or clear the key ('reset': consecutive failures). */
  onSuccess: 'refund' | 'reset';
  /** When the attempt does not count after all (refused by another throttle, or an error that says nothing about the secret). */
  onRelease?: 'refund' | 'reset';
  /** After a counted failure, besides keeping the count. */
  onFailure?: () => Promise<void>;
}

/** The points one attempt holds on its throttles, from before the check until it is settled. */
export class Attempt {
  private readonly held: Charge[] = [];

  /**
   * Counts the attempt on one more throttle; returns the window's count with it. When refused, every throttle
   * charged so far gets its point back and the ThrottledError (or store_unavailable) is thrown.
   */
  async charge(charge: Charge): Promise<number> {
    try {
      const count = await charge.throttle.consume(charge.key);
      this.held.push(charge);
      return count;
    } catch (err) {
      await this.release().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Runs the check. Success settles every charge with `onSuccess`; an error for which `counts` is true keeps
   * the counts (and runs `onFailure`); any other error releases them. The check's error is rethrown.
   */
  async run<T>(check: () => Promise<T>, counts: (err: unknown) => boolean): Promise<T> {
    let result: T;
    try {
      result = await check();
    } catch (err) {
      if (counts(err)) await Promise.all(this.held.map((c) => c.onFailure?.()));
      else await this.release().catch(() => undefined);
      throw err;
    }
    await Promise.all(inOneWrite(this.held, () => this.held.map((c) => (c.onSuccess === 'reset' ? c.throttle.reset(c.key) : c.throttle.refund(c.key)))));
    return result;
  }

  private async release(): Promise<void> {
    const held = this.held.splice(0);
    await Promise.all(inOneWrite(held, () => held.map((c) => ((c.onRelease ?? 'refund') === 'reset' ? c.throttle.reset(c.key) : c.throttle.refund(c.key)))));
  }
}

/**
 * Settling an attempt sends one command per throttle, all at once. On Redis they are queued on the socket while
 * it is corked, and leave in one write when `fn` returns: one system call instead of one per throttle (each a
 * wake-up of Redis, the costliest part of a command here). The limiter issues its command synchronously when
 * called, so the cork spans exactly this batch; nothing waits on it.
 */
function inOneWrite<T>(charges: Charge[], fn: () => T): T {
  const socket = charges.length > 1 && charges[0]!.throttle.redis?.status === 'ready' ? charges[0]!.throttle.redis.stream : undefined;
  socket?.cork();
  try {
    return fn();
  } finally {
    socket?.uncork();
  }
}

/** Counts an attempt on every charge (in order), then runs the check: `Attempt` in one call. */
export async function throttled<T>(charges: Charge[], check: () => Promise<T>, counts: (err: unknown) => boolean): Promise<T> {
  const attempt = new Attempt();
  for (const c of charges) await attempt.charge(c);
  return attempt.run(check, counts);
}

/**
 * The limiter key prefix: REDIS_PREFIX exactly as given (it is never an SQL identifier — the table is
 * fixed), so deployments with the prefixes `a:` and `a_` never share counters.
 */
export function throttleKeyPrefix(prefix: string | undefined, ruleName: string): string {
  return `${prefix ?? 'stepwise:'}rl:${ruleName}`;
}

export async function createThrottle(rule: ThrottleRule, stores: { db: Db; redis?: Redis; prefix?: string }): Promise<Throttle> {
  const opts = {
    keyPrefix: throttleKeyPrefix(stores.prefix, rule.name),
    points: rule.points,
    duration: rule.durationSeconds,
    blockDuration: rule.blockSeconds,
  };
  if (stores.redis) return new Throttle(rule, new (RedisLimiter())({ ...opts, storeClient: stores.redis }), stores.redis);
  const tableOpts = { ...opts, storeClient: stores.db, storeType: 'knex', tableName: 'rate_limits' };
  // SQLite: the table lives in the transient file (src/store/transient-schema.ts creates it); the limiter would
  // create it in the main one.
  if (!isPostgres(stores.db)) return new Throttle(rule, new (SQLiteLimiter())({ ...tableOpts, tableCreated: true }));
  const limiter = await new Promise<RateLimiterAbstract>((resolve, reject) => {
    const l: RateLimiterAbstract = new (PostgresLimiter())(tableOpts, (err?: Error) => (err ? reject(err) : resolve(l)));
  });
  return new Throttle(rule, limiter);
}

/** All throttles of a rule table, created on the same stores. */
export async function createThrottles<R extends Record<string, ThrottleRule>>(
  rules: R,
  stores: { db: Db; redis?: Redis; prefix?: string },
): Promise<{ [K in keyof R]: Throttle }> {
  const entries = await Promise.all(Object.entries(rules).map(async ([k, rule]) => [k, await createThrottle(rule, stores)] as const));
  return Object.fromEntries(entries) as { [K in keyof R]: Throttle };
}
