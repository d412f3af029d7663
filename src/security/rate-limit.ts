/**
 * Failure throttles (rate-limiter-flexible) on Redis, PostgreSQL or SQLite. Verification endpoints fail closed:
 * when the counter store is down, the attempt is refused with store_unavailable instead of going unthrottled.
 */
import {
  RateLimiterPostgres,
  RateLimiterRedis,
  RateLimiterRes,
  RateLimiterSQLite,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';
import type { Redis } from 'ioredis';
import type { Db } from '../store/db.js';
import { isPostgres } from '../store/db.js';
import { AppError } from '../errors/index.js';

export interface ThrottleRule {
  name: string;
  points: number;
  durationSeconds: number;
  blockSeconds: number;
}

export class Throttle {
  constructor(
    readonly rule: ThrottleRule,
    private readonly limiter: RateLimiterAbstract,
  ) {}

  /** Throws too_many_attempts (with retry-after seconds in detail) when the key is currently blocked. */
  async assertAllowed(key: string): Promise<void> {
    let res: RateLimiterRes | null;
    try {
      res = await this.limiter.get(key);
    } catch (err) {
      throw new AppError('store_unavailable', undefined, undefined, { cause: err });
    }
    if (res && (res.consumedPoints > this.rule.points || res.remainingPoints <= 0) && res.msBeforeNext > 0) {
      throw tooMany(res.msBeforeNext);
    }
  }

  /** Counts one failure. */
  async fail(key: string): Promise<void> {
    try {
      await this.limiter.consume(key);
    } catch (err) {
      if (err instanceof RateLimiterRes) return; // over the limit: the next assertAllowed reports it
      throw new AppError('store_unavailable', undefined, undefined, { cause: err });
    }
  }

  async reset(key: string): Promise<void> {
    try {
      await this.limiter.delete(key);
    } catch (err) {
      throw new AppError('store_unavailable', undefined, undefined, { cause: err });
    }
  }
}

function tooMany(ms: number): AppError {
  const minutes = Math.max(1, Math.ceil(ms / 60000));
  return new AppError('too_many_attempts', `Too many attempts. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`);
}

export async function createThrottle(rule: ThrottleRule, stores: { db: Db; redis?: Redis; prefix?: string }): Promise<Throttle> {
  const opts = {
    keyPrefix: `${(stores.prefix ?? 'stepwise:').replace(/[^A-Za-z0-9_]/g, '_')}${rule.name}`,
    points: rule.points,
    duration: rule.durationSeconds,
    blockDuration: rule.blockSeconds,
  };
  if (stores.redis) return new Throttle(rule, new RateLimiterRedis({ ...opts, storeClient: stores.redis }));
  const tableOpts = { ...opts, storeClient: stores.db, storeType: 'knex', tableName: 'rate_limits' };
  const limiter = await new Promise<RateLimiterAbstract>((resolve, reject) => {
    const make = isPostgres(stores.db) ? RateLimiterPostgres : RateLimiterSQLite;
    const l: RateLimiterAbstract = new make(tableOpts, (err?: Error) => (err ? reject(err) : resolve(l)));
  });
  return new Throttle(rule, limiter);
}

/** Account-scoped rules: NIST 800-63B caps consecutive failures per account at 100. */
export function defaultRules(maxFailures: number) {
  return {
    loginAccountIp: { name: 'login_account_ip', points: maxFailures, durationSeconds: 3600, blockSeconds: 900 },
    loginAccount: { name: 'login_account', points: 100, durationSeconds: 3600, blockSeconds: 3600 },
    loginIp: { name: 'login_ip', points: 100, durationSeconds: 24 * 3600, blockSeconds: 3600 },
    factorAccount: { name: 'factor_account', points: maxFailures, durationSeconds: 3600, blockSeconds: 900 },
  } satisfies Record<string, ThrottleRule>;
}
