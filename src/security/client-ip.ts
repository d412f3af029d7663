/**
 * The client's address behind reverse proxies (TRUST_PROXY). Koa's own `proxy = true` takes the left-most
 * X-Forwarded-For entry, which the client chooses; here only entries added by trusted proxies count:
 *   - `{ hops: N }`: N proxies in front; the socket peer is the nearest, and the client is the N-th entry
 *     from the right of X-Forwarded-For (anything further left was sent by the client).
 *   - `{ cidrs }`: only when the socket peer is a listed proxy, walk X-Forwarded-For from the right skipping
 *     listed proxies; the first address outside the list is the client. From any other peer the
 *     X-Forwarded-* headers are ignored (and removed, so Koa does not honour X-Forwarded-Proto/Host either).
 *   - `false`: the socket peer.
 * Entries that are not IP addresses stop the walk; the last trusted address is used instead.
 */
import { BlockList, isIP } from 'node:net';
import type { Context, Next } from 'koa';

export type TrustProxy = { hops: number } | { cidrs: string[] } | false;

export const MAX_PROXY_HOPS = 10;

/** `::ffff:1.2.3.4` → `1.2.3.4`; lower-cases IPv6. */
export function normaliseIp(ip: string): string {
  const lower = ip.toLowerCase();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(lower);
  return mapped ? mapped[1]! : lower;
}

/**
 * One X-Forwarded-For entry as an address, or null. Accepts what proxies write: `1.2.3.4`, `1.2.3.4:5678`,
 * `2001:db8::1`, `[2001:db8::1]:443`.
 */
export function parseForwardedEntry(entry: string): string | null {
  let s = entry.trim();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(s);
  if (bracketed) s = bracketed[1]!;
  else if (/^\d{1,3}(?:\.\d{1,3}){3}:\d{1,5}$/.test(s)) s = s.slice(0, s.lastIndexOf(':'));
  return isIP(s) ? normaliseIp(s) : null;
}

/** A TRUST_PROXY list entry (`10.0.0.0/8`, `::1`, `fd00::/8`) in canonical `address/prefix` form, or null. */
export function parseProxyCidr(entry: string): string | null {
  const m = /^([^/\s]+)(?:\/(\d{1,3}))?$/.exec(entry.trim());
  if (!m) return null;
  const address = normaliseIp(m[1]!);
  const family = isIP(address);
  if (family === 0) return null;
  const max = family === 4 ? 32 : 128;
  const prefix = m[2] === undefined ? max : Number(m[2]);
  return prefix <= max ? `${address}/${prefix}` : null;
}

export interface ClientIpResolver {
  /** The client address for a request from `peer` carrying this X-Forwarded-For header. */
  resolve(peer: string | undefined, forwardedFor: string | undefined): string;
  /** Whether forwarding headers from this socket peer are believed at all. */
  trustsPeer(peer: string | undefined): boolean;
}

/** Compiles the trust setting once; the returned functions are pure. */
export function clientIpResolver(trust: TrustProxy): ClientIpResolver {
  const isTrustedProxy = proxyTest(trust);
  return {
    resolve: (peer, header) => walk(peer, header, isTrustedProxy),
    trustsPeer: (peer) => {
      const ip = peer ? parseForwardedEntry(peer) : null;
      return ip !== null && isTrustedProxy(ip, 0);
    },
  };
}

/** `(address, position)` → is that hop a trusted proxy? Position 0 is the socket peer. */
function proxyTest(trust: TrustProxy): (ip: string, position: number) => boolean {
  if (trust === false) return () => false;
  if ('hops' in trust) {
    const hops = trust.hops;
    return (_ip, position) => position < hops;
  }
  const list = new BlockList();
  for (const cidr of trust.cidrs) {
    const [address, prefix] = cidr.split('/') as [string, string];
    list.addSubnet(address, Number(prefix), isIP(address) === 4 ? 'ipv4' : 'ipv6');
  }
  return (ip) => list.check(ip, isIP(ip) === 4 ? 'ipv4' : 'ipv6');
}

/** Convenience for one-off calls (tests); the middleware compiles once. */
export function resolveClientIp(trust: TrustProxy, peer: string | undefined, forwardedFor: string | undefined): string {
  return clientIpResolver(trust).resolve(peer, forwardedFor);
}

/**
 * Walks [peer, ...X-Forwarded-For from the right]: while the address at position i is a trusted proxy,
 * steps to the next one. Returns the first untrusted address, or the furthest valid one.
 */
function walk(peer: string | undefined, header: string | undefined, isTrustedProxy: (ip: string, position: number) => boolean): string {
  const peerIp = peer ? parseForwardedEntry(peer) : null;
  if (!peerIp) return peer ?? '';
  const chain = header ? header.split(',').reverse() : [];
  let current = peerIp;
  for (let i = 0; i < chain.length && isTrustedProxy(current, i); i++) {
    const next = parseForwardedEntry(chain[i]!);
    if (!next) break;
    current = next;
  }
  return current;
}

const FORWARDING_HEADERS = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'];

/** Koa middleware: sets `ctx.request.ip`; register it before anything reads ctx.ip. */
export function clientIp(trust: TrustProxy) {
  const resolver = clientIpResolver(trust);
  // Not async: a pass-through middleware adds no promise of its own to every request.
  return (ctx: Context, next: Next) => {
    const peer = ctx.req.socket.remoteAddress;
    ctx.request.ip = resolver.resolve(peer, ctx.get('x-forwarded-for') || undefined);
    // Koa's proxy mode would still believe X-Forwarded-Proto/Host from an untrusted peer: drop them.
    if (!resolver.trustsPeer(peer)) for (const h of FORWARDING_HEADERS) delete ctx.req.headers[h];
    return next();
  };
}
