/**
 * BENCH_TRACE=DIR (bench/perf/main.ts preloads this into both servers with --import): every SQL statement
 * (SQLite through better-sqlite3, PostgreSQL through pg) and every Redis command (ioredis) a server runs is
 * written as one line to DIR/<server>-<port>.log, long ids and keys masked, so that what an operation costs in
 * store calls can be counted, e.g. after a one-scenario run of a second or two:
 *   sort DIR/main.bundle-*.log | uniq -c | sort -rn | head -40
 * Each HTTP request a server receives is written first as a line `request METHOD /path` (ids in the path masked),
 * so the statements that follow it until the next such line are that request's — or work an earlier one left
 * running after it answered. `node dist/bench/perf/trace-routes.js DIR/<server>-<port>.log` counts them per route.
 * Writes synchronously (exact order, no loss at exit): for counting. The one timing it records: each SQLite
 * statement's wall time on the event-loop thread, after a tab (better-sqlite3 blocks that thread, so this is what
 * the statement costs every request behind it, a commit's fsync included; trace-routes.ts gives the mean per
 * statement). PostgreSQL and Redis calls are asynchronous: their wall time is waiting, not work, and is not kept.
 */
import { openSync, writeSync } from 'node:fs';
import { Server, type IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { routeLabel } from './route-label.js';

type Fn = (...args: unknown[]) => unknown;
/** Ids, keys and tokens (16+ id characters with a digit among them), not table names like cache_generations. */
const ID = /(?<![A-Za-z0-9_-])(?=[A-Za-z_-]*\d)[A-Za-z0-9_-]{16,}/g;
const out = process.env.BENCH_TRACE_OUT;

if (out) {
  const fd = openSync(out, 'w');
  const log = (kind: string, text: unknown, wallUs?: number) =>
    writeSync(fd, `${kind} ${String(text).replace(/\s+/g, ' ').replace(ID, '…').slice(0, 140)}${wallUs === undefined ? '' : `\t${wallUs}`}\n`);
  const emit = Server.prototype.emit as (this: Server, event: string, ...args: unknown[]) => boolean;
  Server.prototype.emit = function (this: Server, event: string, ...args: unknown[]) {
    if (event === 'request') {
      log('request', routeLabel(args[0] as IncomingMessage));
    }
    return emit.call(this, event, ...args);
  } as Server['emit'];

  const load = createRequire(import.meta.url);
  const optional = (name: string): Record<string, unknown> | undefined => {
    try {
      return load(name) as Record<string, unknown>;
    } catch {
      return undefined; // not installed (e.g. pg without PostgreSQL): nothing to trace
    }
  };

  const sqlite = optional('better-sqlite3') as { prototype: { prepare: Fn } } | undefined;
  if (sqlite) {
    const prepare = sqlite.prototype.prepare;
    sqlite.prototype.prepare = function (this: unknown, sql: unknown) {
      const statement = prepare.call(this, sql) as Record<string, Fn>;
      for (const method of ['run', 'all', 'get', 'iterate']) {
        const run = statement[method]!;
        statement[method] = function (this: unknown, ...args: unknown[]) {
          const start = process.hrtime.bigint();
          try {
            return run.apply(this, args);
          } finally {
            log('sqlite', sql, Math.round(Number(process.hrtime.bigint() - start) / 1000));
          }
        };
      }
      return statement;
    };
  }

  const pg = optional('pg') as { Client: { prototype: { query: Fn } } } | undefined;
  if (pg) {
    const query = pg.Client.prototype.query;
    pg.Client.prototype.query = function (this: unknown, config: unknown, ...rest: unknown[]) {
      log('pg', typeof config === 'string' ? config : (config as { text?: string } | null)?.text);
      return query.call(this, config, ...rest);
    };
  }

  const ioredis = optional('ioredis') as { Redis: { prototype: { sendCommand: Fn } } } | undefined;
  if (ioredis) {
    const send = ioredis.Redis.prototype.sendCommand;
    ioredis.Redis.prototype.sendCommand = function (this: unknown, command: unknown, ...rest: unknown[]) {
      const c = command as { name: string; args?: unknown[] };
      log('redis', `${c.name} ${String(c.args?.[0] ?? '').slice(0, 60)}`);
      return send.call(this, command, ...rest);
    };
  }
}
