/**
 * The risk engine's signal collector — the only part of src/risk/ that does I/O. It reads what the stores
 * know about this account, device, network and location and hands plain signals to the pure scorer
 * (score.ts). Nothing here decides anything; `record()` writes down a successful sign-in so the next
 * collection knows this device, network and place.
 */
import { BlockList, isIPv6 } from 'node:net';
import { createHash } from 'node:crypto';
import { UAParser } from 'ua-parser-js';
import { BoundedCache } from '../bounded-cache.js';
import { deviceHandle } from './known-browser.js';
import type { DevicesRepo } from '../store/repos/devices.js';
import type { SignInsRepo } from '../store/repos/sign-ins.js';
import type { LoginFailuresRepo } from '../store/repos/login-failures.js';
import type { User } from '../store/repos/users.js';
import type { FactorRecord } from '../store/repos/factors.js';
import type { GeoIp, GeoPoint } from './geoip.js';
import type { RiskHistory } from './history.js';
import { networkPrefix, speedKmh } from './geoip.js';
import type { RiskPolicy, RiskSignals } from './types.js';

/** The audit event a "Deny — this wasn't me" answer records (src/factors/push). */
export const PUSH_DENIED_EVENT = 'factor.push.denied';

export interface CollectorDeps {
  /** One read of the account's network, place, failure and push-denial history. */
  history: RiskHistory;
  devices: DevicesRepo;
  signIns: SignInsRepo;
  failures: LoginFailuresRepo;
  geoip: GeoIp | null;
  policy: RiskPolicy;
}

/** Where a request comes from, as the HTTP layer sees it. */
export interface RequestContext {
  ip: string;
  userAgent: string;
  /** The browser's signed device cookie value, when it has one. */
  deviceId: string | null;
}

/** What the collector saw, besides the signals: what `record()` stores and what audit events show. */
export interface Observed {
  deviceHash: string | null;
  uaFamily: string;
  network: string | null;
  geo: GeoPoint | null;
}

export interface AccountState {
  user: User;
  /** Active factors (for the number of second factors and when one was last verified). */
  factors: FactorRecord[];
  secondFactors: number;
}

export interface CollectInput {
  account: AccountState;
  request: RequestContext;
  /** The request asks for a scope the client lists as sensitive. */
  sensitive: boolean;
  /** The client lets a remembered device spare risk-driven prompts (client policy remembered_devices). */
  rememberedAllowed?: boolean;
  /** For SSO requests: the device and network the session was established from. */
  session?: { deviceHash: string | null; network: string | null } | undefined;
  nowMs: number;
}

/** Opaque key for an account in the failure log (never the address itself). */
export function failureAccountKey(email: string): string {
  return createHash('sha256').update(`login-failure:${email}`).digest('base64url').slice(0, 32);
}

const families = new BoundedCache<string, string>(256);

/**
 * "Chrome on Linux" — the browser and OS families from a maintained parser (ua-parser-js). Parsing runs a
 * few hundred regular expressions; the same few user agents recur, so results are kept (bounded, oldest out).
 */
export function uaFamily(userAgent: string): string {
  const ua = userAgent.slice(0, 512);
  return families.getOrSet(ua, () => {
    const r = new UAParser(ua).getResult();
    const browser = r.browser.name ?? 'Unknown browser';
    return (r.os.name ? `${browser} on ${r.os.name}` : browser).slice(0, 100);
  });
}

function blockList(cidrs: string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [addr, len] = cidr.split('/');
    const type = isIPv6(addr!) ? 'ipv6' : 'ipv4';
    list.addSubnet(addr!, Number(len ?? (type === 'ipv6' ? 128 : 32)), type);
  }
  return list;
}

function inList(list: BlockList, ip: string): boolean {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
  const addr = v4 ?? ip;
  try {
    return list.check(addr, isIPv6(addr) ? 'ipv6' : 'ipv4');
  } catch {
    return false;
  }
}

export class RiskCollector {
  private readonly allow: BlockList;
  private readonly deny: BlockList;

  constructor(private readonly deps: CollectorDeps) {
    this.allow = blockList(deps.policy.networks.allow);
    this.deny = blockList(deps.policy.networks.deny);
  }

  get policy(): RiskPolicy {
    return this.deps.policy;
  }

  async collect(input: CollectInput): Promise<{ signals: RiskSignals; observed: Observed }> {
    const { account, request, nowMs } = input;
    const { user } = account;
    const { signIns, geoip, policy } = this.deps;
    // The same handle the sign-in throttles key a known browser by (never the cookie value in a store).
    const hash = request.deviceId ? deviceHandle(request.deviceId) : null;
    const network = networkPrefix(request.ip);
    const geo = geoip?.lookup(request.ip) ?? null;
    const allowListed = inList(this.allow, request.ip);
    const sinceMs = nowMs - policy.velocity.windowSeconds * 1000;
    const [history, last] = await Promise.all([
      this.deps.history.read({
        userId: user.id,
        deviceHash: hash,
        failureAccount: failureAccountKey(user.email),
        ip: request.ip,
        network,
        place: geo?.country ? { country: geo.country, city: geo.city } : null,
        sinceMs,
        pushDeniedType: account.factors.some((f) => f.kind === 'push') ? PUSH_DENIED_EVENT : null,
      }),
      geo ? signIns.last(user.id) : Promise.resolve(undefined),
    ]);
    const { device, knownNetwork, knownPlace, velocity, pushDenials } = history;
    const nowS = Math.floor(nowMs / 1000);
    const speed = geo && last && last.latitude !== null ? speedKmh({ ...last, at: Math.floor(last.at / 1000) }, { ...geo, at: nowS }) : null;
    const lastMfaMs = Math.max(0, ...account.factors.filter((f) => f.kind !== 'password').map((f) => f.lastUsedAt ?? 0));
    const signals: RiskSignals = {
      account: {
        ageSeconds: Math.max(0, Math.floor((nowMs - user.createdAt) / 1000)),
        serviceAccount: user.serviceAccount,
        secondFactors: account.secondFactors,
        lastMfaAt: lastMfaMs > 0 ? Math.floor(lastMfaMs / 1000) : null,
        pushDenials,
      },
      device: {
        known: Boolean(device),
        remembered: input.rememberedAllowed !== false && Boolean(device?.rememberedUntil && device.rememberedUntil > nowMs),
      },
      network: { prefix: network, known: allowListed || knownNetwork, allowListed, denyListed: inList(this.deny, request.ip) },
      location: {
        country: geo?.country ?? null,
        city: geo?.city ?? null,
        known: knownPlace === null ? 'unknown' : knownPlace,
        impossibleTravel: speed === null ? 'unknown' : speed > policy.impossibleTravelKmh,
        speedKmh: speed === null || !Number.isFinite(speed) ? (speed === null ? null : 1e6) : Math.round(speed),
      },
      velocity,
      request: {
        sensitive: input.sensitive,
        sessionContextChanged: Boolean(input.session && ((input.session.deviceHash ?? null) !== hash || (input.session.network ?? null) !== network)),
      },
    };
    return { signals, observed: { deviceHash: hash, uaFamily: uaFamily(request.userAgent), network, geo } };
  }

  /**
   * A sign-in completed: this device, network and place are now known for the user. `onNewDevice` runs once a
   * device record was created for a user who had signed in before (`signedInBefore`: the first sign-in of an
   * account comes from no "new" device) — inside a request, after the request's commit has stored it.
   */
  async record(userId: string, observed: Observed, nowMs: number, opts: { mfa: boolean; rememberDays: number; signedInBefore: boolean; onNewDevice?: () => void }): Promise<void> {
    const { devices, signIns } = this.deps;
    if (observed.deviceHash) {
      const seen = { uaFamily: observed.uaFamily, nowMs, mfaAt: opts.mfa ? nowMs : null, rememberedUntil: opts.rememberDays > 0 ? nowMs + opts.rememberDays * 86_400_000 : null };
      await devices.signedIn(userId, observed.deviceHash, seen, opts.signedInBefore ? opts.onNewDevice : undefined);
    }
    await signIns.record({
      userId,
      at: nowMs,
      network: observed.network,
      country: observed.geo?.country ?? null,
      city: observed.geo?.city ?? null,
      latitude: observed.geo?.latitude ?? null,
      longitude: observed.geo?.longitude ?? null,
      deviceHash: observed.deviceHash,
    });
  }

  /** A wrong password for `email` from `ip` (velocity signals). */
  async failed(email: string, ip: string, nowMs: number): Promise<void> {
    await this.deps.failures.record(failureAccountKey(email), ip, nowMs);
  }
}
