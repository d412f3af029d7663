/**
 * Every running process picks up signing-key changes (`stepwise keys rotate`) without a restart: it re-reads
 * the keys every KEY_REFRESH_SECONDS, and exactly at the moment a scheduled key starts or stops signing.
 *
 * oidc-provider reads `jwks` once, in its constructor, and has no API to change them (library-notes §9(f)).
 * Of the two ways round that, this swaps the keystore of the running Provider with oidc-provider's own
 * initializer — the function its constructor calls, validation included; it builds the new keystore before
 * replacing the old one, synchronously, so a request sees either set, never half of one. Rebuilding the
 * Provider and swapping it is the other way, but here the Provider is the Koa app that every route and
 * middleware is mounted on and that many services hold: each would have to be re-wired on every rotation.
 * The initializer is internal (pinned oidc-provider 9.13): start-up fails loudly if an upgrade moves it.
 */
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';
import type { SigningKeys, KeySet } from './keys.js';

type KeystoreInitializer = (this: Provider, jwks: { keys: unknown[] }) => void;

const INITIALIZER = 'oidc-provider/lib/helpers/initialize_keystore.js';

async function loadInitializer(): Promise<KeystoreInitializer> {
  const mod = (await import(INITIALIZER)) as { default?: unknown };
  if (typeof mod.default !== 'function') {
    throw new Error(`${INITIALIZER} no longer exports the keystore initializer: signing keys could not be refreshed without a restart (check src/oidc/key-refresh.ts after upgrading oidc-provider)`);
  }
  return mod.default as KeystoreInitializer;
}

/** The published kids in order: the first one signs. Equal fingerprints, nothing to swap. */
const fingerprint = (set: KeySet) => set.keys.map((k) => k.kid).join(',');

export interface KeyRefresh {
  /** Re-reads the keys now; true when the published set or the signer changed. */
  refresh(): Promise<boolean>;
  signingKid(): string;
  stop(): void;
}

/** Applies the current keys to `provider` at once (so a broken initializer stops start-up), then keeps them fresh. */
export async function startKeyRefresh(deps: { provider: Provider; keys: SigningKeys; refreshSeconds: number; log: Logger }): Promise<KeyRefresh> {
  const init = await loadInitializer();
  const refreshMs = deps.refreshSeconds * 1000;
  let applied = '';
  let signing = '';
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let running: Promise<boolean> | undefined;

  const apply = async (): Promise<{ changed: boolean; next: number | null }> => {
    const set = await deps.keys.current(Date.now());
    if (set.keys.length === 0) return { changed: false, next: set.nextChangeAt };
    const print = fingerprint(set);
    if (print === applied) return { changed: false, next: set.nextChangeAt };
    init.call(deps.provider, { keys: set.keys });
    if (applied) deps.log.info({ signing: set.signingKid, published: set.keys.map((k) => k.kid) }, 'signing keys refreshed');
    applied = print;
    signing = set.signingKid;
    return { changed: true, next: set.nextChangeAt };
  };

  // One timer: the next refresh is the regular interval, or the next scheduled key change if that is sooner.
  const schedule = (next: number | null) => {
    if (stopped) return;
    const untilChange = next === null ? Infinity : Math.max(0, next - Date.now() + 5);
    timer = setTimeout(tick, Math.min(refreshMs, untilChange));
    timer.unref();
  };
  const tick = () => {
    running = apply()
      .then(
        (r) => (schedule(r.next), r.changed),
        (err: unknown) => {
          // A store outage or an unreadable key: keep serving the keys we have, try again next interval.
          deps.log.warn({ err }, 'signing keys could not be refreshed; keeping the current ones');
          schedule(null);
          return false;
        },
      )
      .finally(() => (running = undefined));
  };

  const first = await apply();
  schedule(first.next);
  return {
    async refresh() {
      if (running) await running;
      const r = await apply();
      return r.changed;
    },
    signingKid: () => signing,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
