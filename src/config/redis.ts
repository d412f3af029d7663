/**
 * Redis behind Sentinel (high availability without home-made clustering), parsed from the same cleaned
 * environment as the rest of src/config/index.ts.
 *
 * - REDIS_SENTINELS: comma-separated `host:port` of the Sentinels (port default 26379). With it, REDIS_URL
 *   names the Sentinel master group instead of a host — `redis://[:password@]mymaster[/db]` — and ioredis
 *   asks the Sentinels for the current primary, and asks again after a failover.
 * - REDIS_SENTINEL_PASSWORD: the Sentinels' own password (`requirepass` of sentinel.conf), if any.
 */
export interface RedisSentinelConfig {
  sentinels: Array<{ host: string; port: number }>;
  /** The master group name (REDIS_URL's host). */
  name: string;
  sentinelPassword?: string;
}

const HOST_PORT = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/;

/** `fail` is the caller's ConfigError factory (one error type for every configuration problem). */
export function redisSentinelConfig(source: Record<string, string | undefined>, fail: (message: string) => Error): RedisSentinelConfig | undefined {
  const list = source.REDIS_SENTINELS;
  if (list === undefined) return undefined;
  if (source.REDIS_URL === undefined) throw fail('REDIS_SENTINELS: needs REDIS_URL naming the master group, e.g. redis://:password@mymaster/0');
  const sentinels = list.split(',').map((entry) => {
    const m = HOST_PORT.exec(entry.trim());
    const port = m?.[2] === undefined ? 26379 : Number(m[2]);
    if (!m || port < 1 || port > 65535) throw fail(`REDIS_SENTINELS: expected host:port[,host:port…] (got ${JSON.stringify(entry.trim())})`);
    return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
  });
  const name = new URL(source.REDIS_URL).hostname;
  return { sentinels, name, ...(source.REDIS_SENTINEL_PASSWORD ? { sentinelPassword: source.REDIS_SENTINEL_PASSWORD } : {}) };
}
