/**
 * The risk engine as the HTTP layer uses it: reads the request's context (client IP, user agent, the signed
 * device cookie), loads the account, runs one assessment (assess.ts) and records what must be remembered
 * — a completed sign-in, a failed password, a decision worth auditing. The check, the sign-in flow and the
 * CLI all go through here.
 */
import type { Context } from 'koa';
import type { UsersRepo, User } from '../store/repos/users.js';
import type { AuditLog } from '../audit/log.js';
import type { FactorService } from '../factors/service.js';
import { readAccountAssurance, type AccountAssurance } from '../factors/assurance.js';
import type { KnownBrowsers } from './known-browser.js';
import type { RiskCollector, Observed, RequestContext } from './collector.js';
import { assessRisk, verdictDetails, type RiskVerdict } from './assess.js';

export interface RiskServiceDeps {
  collector: RiskCollector;
  users: UsersRepo;
  factorService: FactorService;
  knownBrowsers: KnownBrowsers;
  audit: AuditLog;
  now: () => number;
  /** A sign-in from a device the account had not used, when it had used others (security notice). */
  onNewDevice?: (userId: string, info: { ip?: string; device: string }) => void;
}

export interface Assessment {
  user: User;
  account: AccountAssurance;
  verdict: RiskVerdict;
}

/** Where a session was established: an SSO request from elsewhere is judged again. */
export interface SessionOrigin {
  deviceHash: string | null;
  network: string | null;
}

export class RiskService {
  constructor(private readonly deps: RiskServiceDeps) {}

  get policy() {
    return this.deps.collector.policy;
  }

  requestContext(ctx: Context): RequestContext {
    return { ip: ctx.ip, userAgent: ctx.get('user-agent'), deviceId: this.deps.knownBrowsers.read(ctx) };
  }

  /** Assesses a request for `userId`; null when the account no longer exists or is disabled. */
  async assess(
    request: RequestContext,
    userId: string,
    opts: { sensitive: boolean; rememberedAllowed?: boolean; session?: SessionOrigin | undefined },
  ): Promise<Assessment | null> {
    const user = await this.deps.users.findById(userId);
    if (!user || user.disabled) return null;
    const account = await readAccountAssurance(this.deps.factorService, userId);
    const verdict = await assessRisk(this.deps.collector, {
      account: { user, factors: account.factors, secondFactors: account.secondFactorKinds.length },
      request,
      sensitive: opts.sensitive,
      rememberedAllowed: opts.rememberedAllowed ?? true,
      session: opts.session,
      nowMs: this.deps.now(),
    });
    return { user, account, verdict };
  }

  async audit(verdict: RiskVerdict, meta: { userId: string; clientId: string; ip: string; sso: boolean }): Promise<void> {
    const kind = verdict.decision.decision.kind;
    await this.deps.audit.record({
      type: 'risk.decision',
      outcome: kind === 'deny' ? 'failure' : 'success',
      userId: meta.userId,
      clientId: meta.clientId,
      ip: meta.ip,
      details: { ...verdictDetails(verdict), sso: meta.sso, location: placeOf(verdict.observed), device: verdict.observed.uaFamily },
    });
  }

  /** A sign-in completed from `observed`: device, network and place become known; the grace period starts. */
  async completed(userId: string, observed: Observed, opts: { mfa: boolean; rememberDevice: boolean; ip?: string; /** When this sign-in's first step was verified (seconds). */ startedAt: number }): Promise<void> {
    const nowMs = this.deps.now();
    // The user record is cached across requests (and dropped when it changes): no read, and the first-sign-in
    // mark is written once per account, not on every sign-in. The enforcement gate may have marked it during
    // this very sign-in: "before" means before its first step.
    const firstSignInAt = (await this.deps.users.findById(userId))?.firstSignInAt ?? null;
    await this.deps.collector.record(userId, observed, nowMs, {
      mfa: opts.mfa,
      rememberDays: opts.rememberDevice ? this.policy.rememberedDeviceDays : 0,
      signedInBefore: firstSignInAt !== null && firstSignInAt < opts.startedAt * 1000,
      onNewDevice: () => this.deps.onNewDevice?.(userId, { ip: opts.ip, device: observed.uaFamily }),
    });
    if (firstSignInAt === null) await this.deps.users.markFirstSignIn(userId, nowMs);
  }

  async failedPassword(email: string, ip: string): Promise<void> {
    await this.deps.collector.failed(email, ip, this.deps.now());
  }
}

/** "Lyon, FR" / "FR" / null. */
export function placeOf(observed: Observed): string | null {
  const g = observed.geo;
  if (!g?.country) return null;
  return g.city ? `${g.city}, ${g.country}` : g.country;
}
