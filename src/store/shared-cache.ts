/**
 * Records cached across requests — clients, users, factor lists: every token request and sign-in step reads
 * them, and a refresh or userinfo call would otherwise spend its round trips re-reading an unchanged user.
 * An entry is served only while its table's generation (src/store/table-generations.ts) is the one it was read
 * under, so any committed change — by anyone — makes the next lookup read the table again. The generation is
 * taken *before* the read: a change committed while reading leaves the entry stale at once.
 *
 * Only found records are kept (bounded, least recently used out) — or, with `keepMisses`, "not found" too,
 * for a lookup whose usual answer is none (an open recovery); each caller gets its own copy.
 */
import { BoundedCache } from '../bounded-cache.js';
import type { CachedTable, TableGenerations } from './table-generations.js';
import { wrapMethods } from './wrap-methods.js';

export function cacheAcrossRequests<T extends object>(
  repo: T,
  table: CachedTable,
  reads: ReadonlyArray<keyof T & string>,
  generations: TableGenerations | null,
  { max = 5000, keepMisses = false }: { max?: number; keepMisses?: boolean } = {},
): T {
  if (!generations) return repo;
  const readSet = new Set<string>(reads);
  const cache = new BoundedCache<string, { generation: number; value: unknown }>(max);
  return wrapMethods(repo, (name) => readSet.has(name), (read, name) => async (...args: unknown[]) => {
    const generation = generations.current(table);
    if (generation === null) return read(...args);
    const key = `${name}\u0000${JSON.stringify(args)}`;
    const hit = cache.get(key);
    if (hit?.generation === generation) return structuredClone(hit.value);
    const result = await read(...args);
    if (keepMisses || (result !== undefined && result !== null)) cache.set(key, { generation, value: structuredClone(result) });
    return result;
  });
}
