/**
 * The one AsyncLocalStorage of a request: its id (log lines), read memo (src/store/request-cache.ts), audit
 * batch (src/audit/request-batch.ts), deferred sign-in state writes (src/store/kv-write-behind.ts), language
 * (src/i18n/context.ts) and whether it acts on behalf of other users. One storage, not one per concern: on
 * Node 20 every AsyncLocalStorage instance adds a propagation step to every promise and callback a request
 * creates (thousands per sign-in).
 *
 * Outside a request (CLI, timers started at boot) there is no scope, and each concern falls back to its
 * out-of-request behaviour.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export interface RequestScope {
  reqId?: string;
  memo?: Map<string, Promise<unknown>>;
  /** Concern-owned state, typed by its owner module. */
  locale?: unknown;
  onBehalf?: boolean;
  audit?: unknown;
  kvWrites?: unknown;
}

const storage = new AsyncLocalStorage<RequestScope>();

export function currentScope(): RequestScope | undefined {
  return storage.getStore();
}

/** Runs `fn` in `scope` (the outermost middleware opens a request's scope). */
export function runInScope<T>(scope: RequestScope, fn: () => T): T {
  return storage.run(scope, fn);
}

/**
 * Sets `key` on the current scope, or — when no scope is open (a unit test mounting one middleware alone) —
 * runs `fn` in a new scope holding it.
 */
export function withScopeValue<K extends keyof RequestScope, T>(key: K, value: RequestScope[K], fn: () => T): T {
  const scope = storage.getStore();
  if (scope) {
    scope[key] = value;
    return fn();
  }
  return storage.run({ [key]: value }, fn);
}

/** `fn` in a copy of the current scope with `patch` applied (a nested override, e.g. onBehalf). */
export function runWithPatch<T>(patch: Partial<RequestScope>, fn: () => T): T {
  return storage.run({ ...storage.getStore(), ...patch }, fn);
}
