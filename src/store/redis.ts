import type { Redis } from 'ioredis';
import type { RedisSentinelConfig } from '../config/redis.js';
import { lazy } from '../lazy.js';

/** ioredis loads only when REDIS_URL is set: the embedded default never needs it. */
const ioredis = lazy<typeof import('ioredis')>('ioredis');

/**
 * One ioredis client; commands fail fast while disconnected instead of queueing forever. With `sentinel`,
 * ioredis finds the primary through the Sentinels. A write refused with READONLY means the node was demoted
 * by a failover: reconnect (to the new primary) and resend.
 */
export function createRedis(url: string, sentinel?: RedisSentinelConfig): Redis {
  const redis = new (ioredis().Redis)(url, {
    ...(sentinel ? { sentinels: sentinel.sentinels, name: sentinel.name, sentinelPassword: sentinel.sentinelPassword } : {}),
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    connectTimeout: 3000,
    lazyConnect: false,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  redis.on('error', () => {
    /* surfaced per command as store_unavailable; avoid unhandled 'error' events */
  });
  return redis;
}
