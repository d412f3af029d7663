/**
 * Per-request write-behind for short-lived sign-in state. A password sign-in that finishes in one request
 * writes its interaction's auth context three times (password verified, risk judged, cleared at the end)
 * and its "keep me signed in" choice once, then reads both back: on the embedded store each write is a
 * commit. Under this wrapper, writes to keys under the given prefixes stay in the request's scope (reads in
 * the same request see them) and reach the store once, as their last value (the values set: in one statement,
 * or one Redis round trip), when the request's handlers are done and before it answers — a following request
 * (the browser's next step) finds them stored, exactly as before. What a request read of those keys is
 * remembered for the rest of it (a TOTP step reads its auth context three times): the request sees one state of
 * its sign-in, its own writes on top.
 *
 * Mounted inside the error handler (`flushKvWritesPerRequest`): a store outage while writing becomes the
 * request's precise 503. Outside a request (CLI, timers), or after the request's flush, writes go straight
 * to the store. `take` and `add` are atomic in the store, so a key with a pending write is written first.
 * A key the request found empty and ends deleted is not written at all; should a concurrent request of the
 * same interaction have stored it meanwhile, it is left to expire — the state of a finished interaction,
 * which no later request can resume.
 */
import type { Context, Next } from 'koa';
import { currentScope, withScopeValue } from '../http/request-scope.js';
import type { KvEntry, KvStore } from './kv.js';

interface Pending {
  kv: KvStore;
  value: string | null; // null: delete
  ttlSeconds: number;
}

interface Deferred {
  open: boolean;
  writes: Map<string, Pending>;
  /** What this request read from the store (null: found empty — deleting such a key at the end writes nothing). */
  read: Map<string, string | null>;
}

function openWrites(): Deferred | undefined {
  const deferred = currentScope()?.kvWrites as Deferred | undefined;
  return deferred?.open ? deferred : undefined;
}

async function write(key: string, p: Pending): Promise<void> {
  if (p.value === null) await p.kv.del(key);
  else await p.kv.set(key, p.value, p.ttlSeconds);
}

/** A request's last values: its sets in one call per store (one statement, one Redis round trip), each delete on its own. */
async function writeAll(writes: ReadonlyArray<[string, Pending]>): Promise<void> {
  const sets = new Map<KvStore, KvEntry[]>();
  const calls: Array<Promise<void>> = [];
  for (const [key, p] of writes) {
    if (p.value === null) calls.push(p.kv.del(key));
    else sets.set(p.kv, [...(sets.get(p.kv) ?? []), { key, value: p.value, ttlSeconds: p.ttlSeconds }]);
  }
  for (const [kv, entries] of sets) calls.push(kv.setMany(entries));
  await Promise.all(calls);
}

export function deferWritesPerRequest(kv: KvStore, prefixes: readonly string[]): KvStore {
  const deferrable = (key: string) => prefixes.some((p) => key.startsWith(p));
  const pendingFor = (key: string) => (deferrable(key) ? openWrites() : undefined);
  /** Writes the key's pending value now (before an atomic operation on it). */
  const settle = async (key: string) => {
    const deferred = pendingFor(key);
    const p = deferred?.writes.get(key);
    if (!deferred || !p) return;
    deferred.writes.delete(key);
    await write(key, p);
  };
  /** An atomic operation in the store: the key's pending value first, and what was read of it is stale after. */
  const atomically = async <T>(key: string, op: () => Promise<T>): Promise<T> => {
    await settle(key);
    try {
      return await op();
    } finally {
      pendingFor(key)?.read.delete(key);
    }
  };
  return {
    async set(key, value, ttlSeconds) {
      const deferred = pendingFor(key);
      if (deferred) deferred.writes.set(key, { kv, value, ttlSeconds });
      else await kv.set(key, value, ttlSeconds);
    },
    async setMany(entries) {
      const now: KvEntry[] = [];
      for (const e of entries) {
        const deferred = pendingFor(e.key);
        if (deferred) deferred.writes.set(e.key, { kv, value: e.value, ttlSeconds: e.ttlSeconds });
        else now.push(e);
      }
      if (now.length > 0) await kv.setMany(now);
    },
    async get(key) {
      const deferred = pendingFor(key);
      const p = deferred?.writes.get(key);
      if (p) return p.value;
      const known = deferred?.read.get(key);
      if (known !== undefined) return known;
      const value = await kv.get(key);
      deferred?.read.set(key, value);
      return value;
    },
    async del(key) {
      const deferred = pendingFor(key);
      if (deferred) deferred.writes.set(key, { kv, value: null, ttlSeconds: 0 });
      else await kv.del(key);
    },
    take: (key) => atomically(key, () => kv.take(key)),
    add: (key, value, ttlSeconds) => atomically(key, () => kv.add(key, value, ttlSeconds)),
  };
}

/** Opens the request's deferred writes and stores them when its handlers are done (also after an error). */
export function flushKvWritesPerRequest() {
  return function kvWriteBehind(_ctx: Context, next: Next) {
    const deferred: Deferred = { open: true, writes: new Map(), read: new Map() };
    return withScopeValue('kvWrites', deferred, async () => {
      try {
        await next();
      } finally {
        deferred.open = false;
        // A key that was empty when this request read it and ends deleted needs no statement (an auth context
        // created and cleared within one sign-in request).
        const writes = [...deferred.writes].filter(([key, p]) => !(p.value === null && deferred.read.get(key) === null));
        deferred.writes.clear();
        deferred.read.clear();
        if (writes.length > 0) await writeAll(writes);
      }
    });
  };
}
