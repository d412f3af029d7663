/**
 * Records cached across requests — clients, users, factor lists: every token request and sign-in step reads
 * them, and a refresh or userinfo call would otherwise spend its round trips re-reading an unchanged user.
 * An entry is served only while its table's generation (src/store/table-generations.ts) is the one it was read
 * under, so any committed change — by anyone — makes the next lookup read the table again. The generation is
 * taken *before* the read: a change committed while reading leaves the entry stale at once.
 *
 * Only found records are kept (bounded, least recently used out) — or, with `keepMisses`, "not found" too,
 * for a lookup whose usual answer is none (an open recovery); each caller gets its own copy. `primes`: a read's
 * record is also kept as the answer of the reads it answers too (request-cache.ts), under the same generation.
 */
import { BoundedCache } from '../bounded-cache.js';
import type { Primes } from './request-cache.js';
import type { CachedTable, TableGenerations } from './table-generations.js';
import { wrapMethods } from './wrap-methods.js';

export function cacheAcrossRequests<T extends object>(
  repo: T,
  table: CachedTable,
  reads: ReadonlyArray<keyof T & string>,
  generations: TableGenerations | null,
  { max = 5000, keepMisses = false, primes = {} }: { max?: number; keepMisses?: boolean; primes?: Primes } = {},
): T {
  if (!generations) return repo;
  const readSet = new Set<string>(reads);
  const cache = new BoundedCache<string, { generation: number; value: unknown }>(max);
  const keyOf = (name: string, args: unknown[]) => `${name}\u0000${JSON.stringify(args)}`;
  return wrapMethods(repo, (name) => readSet.has(name), (read, name) => async (...args: unknown[]) => {
    const generation = generations.current(table);
    if (generation === null) return read(...args);
    const key = keyOf(name, args);
    const hit = cache.get(key);
    if (hit?.generation === generation) return structuredClone(hit.value);
    const result = await read(...args);
    if (keepMisses || (result !== undefined && result !== null)) {
      const entry = { generation, value: structuredClone(result) };
      cache.set(key, entry);
      const other = primes[name]?.(result);
      if (other) cache.set(keyOf(other.method, other.args), entry);
    }
    return result;
  });
}
