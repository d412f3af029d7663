/**
 * Request-scoped read memo. One sign-in step or token request used to read the same user, client and factor
 * list several times (policy check, flow, findAccount, grant epoch, refresh decay: 96 queries for one
 * password sign-in, 5 for a userinfo call). Within one HTTP request, each distinct read now runs once.
 *
 * Why it stays correct:
 *  - The memo lives only as long as the request (its scope, src/http/request-scope.ts); nothing is shared
 *    between requests, so no other process or later request ever sees a stale value. Outside a request (CLI, timers) nothing is
 *    memoised.
 *  - Any write to a memoised table during the request — through the repo or any other code, raw knex or a
 *    transaction — clears that table's entries: every insert/update/delete knex runs is seen on the
 *    connection's `query` event before it executes.
 *  - Each caller gets its own copy (structuredClone), so one caller mutating a record cannot affect another.
 */
import type { Context, Next } from 'koa';
import type { Db } from './db.js';
import { currentScope, withScopeValue } from '../http/request-scope.js';
import { wrapMethods } from './wrap-methods.js';

type Memo = Map<string, Promise<unknown>>;

const memoOf = (): Memo | undefined => currentScope()?.memo;

/** Koa middleware: one memo per request. Mount first. */
export function requestScope() {
  return (_ctx: Context, next: Next) => withScopeValue('memo', new Map(), next);
}

/** The table an INSERT, UPDATE or DELETE writes, or undefined for anything else (also used by table-generations.ts). */
export function tableWrittenBy(sql: string): string | undefined {
  return WRITE.exec(sql)?.[1];
}

const WRITE = /^\s*(?:insert\s+into|update|delete\s+from)\s+[`"]?(\w+)/i;

/** Clears a table's memo entries whenever a write to it is about to run inside a request. */
export function invalidateOnWrites(db: Db): void {
  db.on('query', (q: { sql?: string }) => {
    const memo = memoOf();
    if (!memo || memo.size === 0 || typeof q.sql !== 'string') return;
    const table = tableWrittenBy(q.sql);
    if (table) clearTable(memo, table);
  });
}

/**
 * Forgets a table's memo entries in the current request — for writes the SQL hook cannot see (the Redis
 * adapters of oidc-provider's models).
 */
export function forgetTable(table: string): void {
  const memo = memoOf();
  if (memo && memo.size > 0) clearTable(memo, table);
}

function clearTable(memo: Memo, table: string) {
  const prefix = `${table}\u0000`;
  for (const key of memo.keys()) if (key.startsWith(prefix)) memo.delete(key);
}

/**
 * Other reads that a read's answer also answers: `findByEmail` finds the record `findById(record.id)` would.
 * Returns that read's method and arguments, or undefined (nothing found).
 */
export type Primes = Record<string, (value: unknown) => { method: string; args: unknown[] } | undefined>;

/**
 * Wraps a repository: the named read methods are memoised per request (keyed by table, namespace — e.g. one
 * oidc-provider model of the shared payload table —, method and arguments). Writes need no wrapping:
 * whatever writes the table — this repo or any other code — is seen by invalidateOnWrites, which the
 * container installs on the same connection. `primes`: once a read answers, the reads it also answers are
 * memoised with the same value — unless a write to the table came in between (its entry is gone then).
 */
export function memoizeReads<T extends object>(repo: T, table: string, reads: ReadonlyArray<keyof T & string>, namespace = '', primes: Primes = {}): T {
  const readSet = new Set<string>(reads);
  const keyOf = (name: string, args: unknown[]) => `${table}\u0000${namespace}\u0000${name}\u0000${JSON.stringify(args)}`;
  return wrapMethods(repo, (name) => readSet.has(name), (read, name) => (...args: unknown[]) => {
    const memo = memoOf();
    if (!memo) return read(...args);
    const key = keyOf(name, args);
    let hit = memo.get(key);
    if (!hit) {
      const answer = Promise.resolve(read(...args));
      hit = answer;
      memo.set(key, answer);
      answer.then(
        (v) => {
          const other = primes[name]?.(v);
          if (!other || memo.get(key) !== answer) return;
          const otherKey = keyOf(other.method, other.args);
          if (!memo.has(otherKey)) memo.set(otherKey, answer);
        },
        () => memo.delete(key),
      );
    }
    return hit.then((v) => structuredClone(v));
  });
}
