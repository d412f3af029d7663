import { Redis } from 'ioredis';

/** One ioredis client; commands fail fast while disconnected instead of queueing forever. */
export function createRedis(url: string): Redis {
  const redis = new Redis(url, {
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
