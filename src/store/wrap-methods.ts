/**
 * A proxy of `target` whose methods chosen by `pick` are replaced by `wrap(method, name)` — the one way the
 * store's caches (src/store/request-cache.ts, src/store/shared-cache.ts) and the payload adapters' write
 * hook (src/oidc/adapters.ts) put themselves in front of a repository. The method is called on the target
 * itself, so the repository's own internal calls are not intercepted. One wrapper per method name.
 */
type Method = (...args: unknown[]) => unknown;

export function wrapMethods<T extends object>(target: T, pick: (name: string) => boolean, wrap: (method: Method, name: string) => Method): T {
  const wrapped = new Map<string, Method>();
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver) as unknown;
      if (typeof value !== 'function' || typeof prop !== 'string' || !pick(prop)) return value;
      let fn = wrapped.get(prop);
      if (!fn) {
        fn = wrap((...args) => (value as Method).apply(obj, args), prop);
        wrapped.set(prop, fn);
      }
      return fn;
    },
  });
}
