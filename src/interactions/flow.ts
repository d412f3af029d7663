/**
 * The sign-in state machine behind the hosted pages: which step comes next, until one of the exits (exits.ts)
 * ends the interaction — finishing it with the acr/amr the verified methods reached.
 */
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { InteractionDetails } from './routes.js';
import type { AuthContext, AuthContextStore } from './auth-context.js';
import type { PasswordFactor } from '../factors/password.js';
import type { LoginGuard } from '../security/login-guard.js';
import type { KnownBrowsers } from '../risk/known-browser.js';
import type { AuditLog } from '../audit/log.js';
import type { ClientsRepo } from '../store/repos/clients.js';
import type { UsersRepo } from '../store/repos/users.js';
import type { FactorService } from '../factors/service.js';
import type { SecondFactorKind } from '../factors/registry.js';
import type { FactorContext, FactorInput, VerifiedMethod } from '../factors/types.js';
import { normaliseEmail } from '../store/repos/users.js';
import type { LevelRule } from '../policy/levels.js';
import { usefulFactors } from '../policy/decision.js';
import { factorsToOffer } from '../policy/offer.js';
import { assuranceRequirement, decide, freshSince, liveMethods, ruleFor, type AssuranceRequirement } from '../policy/requirement.js';
import { readAccountAssurance, type AccountAssurance } from '../factors/assurance.js';
import { readClientPolicy, isSensitiveRequest } from '../policy/client-policy.js';
import type { RiskService, SessionOrigin } from '../risk/service.js';
import { EnforcementGate, type EnforcementGateDeps } from './enforcement-gate.js';
import { InteractionExits } from './exits.js';
import type { KvStore } from '../store/kv.js';
import { LEVEL_CHECK } from '../oidc/policy.js';
import { AppError } from '../errors/index.js';
import { clientBranding } from './client-branding.js';
import { lastFactor, nextFactorPath } from './next-factor.js';

export interface FlowDeps {
  provider: Provider;
  authContexts: AuthContextStore;
  /** Per-SSO-session authentication context (methods with times), keyed by session uid. */
  sessions: AuthContextStore;
  password: PasswordFactor;
  /** Sign-in throttles (counted before the password or passkey is checked). */
  loginGuard: LoginGuard;
  knownBrowsers: KnownBrowsers;
  risk: RiskService;
  /** Short-lived state: which interactions the risk policy refused (`denied:<uid>`). */
  kv: KvStore;
  audit: AuditLog;
  clients: ClientsRepo;
  users: UsersRepo;
  factorService: FactorService;
  levels: LevelRule[];
  now: () => number;
  /** Sign-ins after a used admin recovery must enroll a new factor first (src/recovery/enrollment.ts). */
  recoveryEnrollment?: EnforcementGateDeps['recoveryEnrollment'];
}

export class SignInFlow {
  private readonly gate: EnforcementGate;
  /** Every way back to the RP: finish, unmet, denied, abort, consent (exits.ts). */
  readonly exits: InteractionExits;

  constructor(private readonly deps: FlowDeps) {
    this.exits = new InteractionExits(deps);
    this.gate = new EnforcementGate({
      users: deps.users,
      factorService: deps.factorService,
      authContexts: deps.authContexts,
      policy: () => deps.risk.policy,
      now: deps.now,
      recoveryEnrollment: deps.recoveryEnrollment,
    });
  }

  // ── The steps, in the order a sign-in meets them ──

  /**
   * On GET of the interaction page: continue a sign-in that already has a verified step, or — when the only
   * reason for this prompt is an insufficient level — step up: keep the session's still-valid methods
   * (the user keeps their password step) and ask only for what is missing.
   */
  async resume(ctx: Context, details: InteractionDetails): Promise<string | null> {
    if (details.prompt.details.stepwise_unmet) {
      return this.exits.unmet(ctx, details, { accountId: details.session?.accountId ?? '', methods: [] });
    }
    const existing = await this.deps.authContexts.get(details.uid);
    if (existing) return `/interaction/${details.uid}/factor`;
    const session = details.session;
    const stepUpOnly = session?.accountId && details.prompt.reasons.every((r) => r === LEVEL_CHECK);
    if (!stepUpOnly || !session?.uid) return null;
    const sctx = await this.deps.sessions.get(session.uid);
    if (!sctx || sctx.accountId !== session.accountId) return null;
    // Keep only methods still valid for the level asked for; if the password is not among them, the user
    // signs in again from the password step.
    // The step-up is judged like a sign-in: from where it comes, for what it asks.
    const judged = await this.judge(ctx, details, { accountId: sctx.accountId, methods: sctx.methods }, sctx.origin ?? { deviceHash: null, network: null });
    if (!judged) return this.exits.denied(ctx, details, sctx.accountId);
    const { req } = await this.evaluate(details, judged);
    const since = freshSince(req, this.nowSeconds());
    const carried: AuthContext = { ...judged, methods: sctx.methods.filter((m) => m.at >= since) };
    if (!carried.methods.some((m) => m.kind === 'password' || (m.kind === 'webauthn' && m.userVerified))) {
      await this.deps.authContexts.clear(details.uid);
      return null;
    }
    await this.deps.authContexts.set(details.uid, carried);
    return this.advance(ctx, details, carried);
  }

  /** Password step. Returns where to send the browser next. */
  async password(ctx: Context, details: InteractionDetails, email: string, password: string): Promise<string> {
    const { loginGuard, audit } = this.deps;
    const account = normaliseEmail(email);
    const clientId = String(details.params.client_id);
    let verified;
    try {
      // Counted on every sign-in throttle before the hash is checked (security/login-guard.ts).
      verified = await loginGuard.password(ctx, account, () => this.deps.password.verify(email, password, this.nowSeconds()));
    } catch (err) {
      if (err instanceof AppError && err.code === 'invalid_credentials') {
        await audit.record({ type: 'login.password', outcome: 'failure', clientId, ip: ctx.ip, details: { email: account } });
        await this.deps.risk.failedPassword(account, ctx.ip);
      }
      throw err;
    }
    await audit.record({ type: 'login.password', outcome: 'success', userId: verified.user.id, clientId, ip: ctx.ip });
    // Known browser: remembered right after the verified password, not at the end of the sign-in. It only
    // exempts this browser from the per-account password throttles (it keeps its own per-account+device
    // limit); second factors keep their throttles, so a browser that knows the password gains nothing more.
    const deviceId = await this.deps.knownBrowsers.remember(ctx, verified.user.id);
    return this.firstFactor(ctx, details, verified.user.id, verified.method, deviceId);
  }

  /** Passkey as the first step: the credential names the user. */
  async passwordless(ctx: Context, details: InteractionDetails, input: FactorInput): Promise<string> {
    const webauthn = this.deps.factorService.registry.webauthn;
    const clientId = String(details.params.client_id);
    let verified: { userId: string; method: VerifiedMethod };
    try {
      // Counted per IP before the assertion is checked; a verified passkey gets the point back.
      verified = await this.deps.loginGuard.passkey(ctx, async () => {
        const v = await webauthn.verifyPasswordless(details.uid, input, this.deps.now());
        // The credential names the user; a disabled account gets the same answer as a failed assertion.
        const user = await this.deps.users.findById(v.userId);
        if (!user || user.disabled) throw new AppError('webauthn_failed');
        return v;
      });
    } catch (err) {
      if (err instanceof AppError && (err.code === 'webauthn_failed' || err.code === 'challenge_expired')) {
        await this.deps.audit.record({ type: 'login.passkey', outcome: 'failure', clientId, ip: ctx.ip, details: { reason: err.code } });
      }
      throw err;
    }
    await this.deps.audit.record({ type: 'login.passkey', outcome: 'success', userId: verified.userId, clientId, ip: ctx.ip });
    // Known browser: remembered after the verified first factor (see password()).
    const deviceId = await this.deps.knownBrowsers.remember(ctx, verified.userId);
    return this.firstFactor(ctx, details, verified.userId, verified.method, deviceId);
  }

  /** After the first factor: judge the risk (for the device id the browser now carries), then continue. */
  private async firstFactor(ctx: Context, details: InteractionDetails, accountId: string, method: VerifiedMethod, deviceId: string): Promise<string> {
    const started = await this.deps.authContexts.addMethod(details.uid, accountId, method);
    const judged = await this.judge(ctx, details, started, undefined, deviceId);
    if (!judged) return this.exits.denied(ctx, details, accountId);
    return this.advance(ctx, details, judged);
  }

  /**
   * Judges this sign-in's risk once (after the first factor, or when an SSO step-up starts) and holds every
   * later step to that verdict. A denial ends the sign-in on a page that says what to do.
   */
  private async judge(ctx: Context, details: InteractionDetails, authCtx: AuthContext, origin?: SessionOrigin, deviceId?: string): Promise<AuthContext | null> {
    const clientId = String(details.params.client_id);
    const policy = readClientPolicy(await this.deps.clients.find(clientId));
    const request = this.deps.risk.requestContext(ctx);
    const assessment = await this.deps.risk.assess(deviceId ? { ...request, deviceId } : request, authCtx.accountId, {
      sensitive: isSensitiveRequest(policy, details.params.scope),
      rememberedAllowed: policy.remembered_devices !== false,
      session: origin,
    });
    if (!assessment) throw new AppError('interaction_not_found');
    const { verdict } = assessment;
    await this.deps.risk.audit(verdict, { userId: authCtx.accountId, clientId, ip: ctx.ip, sso: Boolean(origin) });
    if (verdict.denied) return null;
    const judged: AuthContext = { ...authCtx, risk: { demands: verdict.demands, secondFactorWithin: verdict.secondFactorWithin, observed: verdict.observed } };
    await this.deps.authContexts.set(details.uid, judged);
    return judged;
  }

  /** Verifies one second factor in this interaction and moves on; `remember_device` in the input marks the device. */
  async secondFactor(ctx: Context, details: InteractionDetails, kind: string, input: FactorInput): Promise<string> {
    const { ctx: fctx, authCtx } = await this.factorContext(details);
    const method = await this.deps.factorService.verify(kind, fctx, input, { ip: ctx.ip, clientId: String(details.params.client_id) });
    const remember = input.remember_device === true || input.remember_device === '1' || input.remember_device === 'on';
    if (remember && (await this.rememberDays(details)) > 0) await this.deps.authContexts.set(details.uid, { ...authCtx, rememberDevice: true });
    return this.afterMethod(ctx, details, authCtx.accountId, method);
  }

  private async afterMethod(ctx: Context, details: InteractionDetails, accountId: string, method: VerifiedMethod): Promise<string> {
    const authCtx = await this.deps.authContexts.addMethod(details.uid, accountId, method);
    return this.advance(ctx, details, authCtx);
  }

  /** Finishes when the reached level is enough, otherwise sends the user to the next factor. */
  async advance(ctx: Context, details: InteractionDetails, authCtx: AuthContext): Promise<string> {
    const { req, methods, offer, now } = await this.target(details, authCtx);
    if (req.unmet) return this.exits.unmet(ctx, details, authCtx);
    const reached = decide(req, methods, now);
    if (reached) return (await this.gate.check(ctx, details, authCtx)) ?? this.exits.finish(ctx, details, { ...authCtx, methods }, reached);
    if (offer.length > 0) return nextFactorPath(details.uid, offer, lastFactor(ctx));
    // Cannot reach the level. A client may accept a lower level for voluntary requests — never below the
    // floor (its minimum and the account's demand), so a two-factor account never leaves with a password.
    const lower = decide(req, methods, now, { allowLower: true });
    if (lower) return this.exits.finish(ctx, details, { ...authCtx, methods }, lower);
    if ((await this.enrollableFactors(details, authCtx)).length > 0) return `/interaction/${details.uid}/enroll`;
    return this.exits.unmet(ctx, details, authCtx);
  }

  // ── The requirement, and what to offer towards it ──

  /**
   * What this authorization request needs for this account: the one requirement (policy/requirement.ts),
   * built from the request's raw parameters, the client's policy and the account's demand — exactly what
   * the login prompt's check builds, so the flow can never finish where the check would refuse.
   */
  async evaluate(details: InteractionDetails, authCtx: AuthContext): Promise<{ req: AssuranceRequirement; account: AccountAssurance }> {
    const [client, account] = await Promise.all([
      this.deps.clients.find(String(details.params.client_id)),
      readAccountAssurance(this.deps.factorService, authCtx.accountId),
    ]);
    const risk = authCtx.risk;
    const req = assuranceRequirement({
      levels: this.deps.levels,
      client,
      params: details.params,
      demands: risk?.demands ?? [],
      secondFactorWithin: risk?.secondFactorWithin,
    });
    return { req, account };
  }

  /** The requirement, the account's side of it, the methods still valid, and the second factors worth offering now (policy/offer.ts). */
  private async target(details: InteractionDetails, authCtx: AuthContext) {
    const { req, account } = await this.evaluate(details, authCtx);
    const now = this.nowSeconds();
    const methods = liveMethods(authCtx.methods, account.activeFactorIds);
    const offer = factorsToOffer(req, account.secondFactorKinds, methods, now, (kind) => this.registry[kind].info);
    return { req, account, methods, offer, now };
  }

  /** Second-factor kinds worth offering now: enrolled, allowed for the client, and able to reach the goal. */
  async remainingFactors(details: InteractionDetails, authCtx: AuthContext): Promise<SecondFactorKind[]> {
    return (await this.target(details, authCtx)).offer;
  }

  /**
   * Factors a user may enroll inside this sign-in so it can continue (client policy `enroll_on_unmet`).
   * Only for accounts without any second factor, right after their password: binding a first second factor
   * needs only the password (NIST 800-63B-4 §4.1.2.1). Accounts that already have MFA use /account.
   */
  async enrollableFactors(details: InteractionDetails, authCtx: AuthContext): Promise<SecondFactorKind[]> {
    const { req, account, methods, now } = await this.target(details, authCtx);
    if (!(req.policy.enroll_on_unmet || authCtx.enforcement) || req.unmet) return [];
    if (account.activeFactorIds.size > 0) return [];
    if ((await this.deps.users.findById(authCtx.accountId))?.serviceAccount) return [];
    if (!methods.some((m) => m.kind === 'password' && m.at >= now - 600)) return [];
    const rule = ruleFor(req);
    if (!rule) return [];
    const candidates = (['webauthn', 'totp'] as const).map((k) => this.registry[k].info);
    return usefulFactors(rule, methods, candidates, now, req.policy).map((c) => c.kind as SecondFactorKind);
  }

  // ── What the pages need ──

  /** The signed-in-so-far user of this interaction, or an error sending them back to the login page. */
  async factorContext(details: InteractionDetails): Promise<{ ctx: FactorContext; authCtx: AuthContext }> {
    const authCtx = await this.deps.authContexts.get(details.uid);
    if (!authCtx) throw new AppError('not_authenticated', 'Enter your email and password first.');
    const user = await this.deps.users.findById(authCtx.accountId);
    if (!user || user.disabled) throw new AppError('interaction_not_found');
    return {
      authCtx,
      ctx: { userId: user.id, userEmail: user.email, userName: user.name, scope: details.uid, now: this.deps.now() },
    };
  }

  /** Days "remember this device" lasts for this client (0: the policy or the client does not offer it). */
  async rememberDays(details: InteractionDetails): Promise<number> {
    const policy = readClientPolicy(await this.deps.clients.find(String(details.params.client_id)));
    return policy.remembered_devices === false ? 0 : this.deps.risk.policy.rememberedDeviceDays;
  }

  /** What the MFA notice page shows (src/interactions/enforcement-gate.ts). */
  mfaNotice(details: InteractionDetails): Promise<{ daysLeft: number } | null> {
    return this.gate.notice(details);
  }

  /** "Later" on the MFA notice: not again today in this browser, and the sign-in continues at once. */
  async postponeEnrollment(ctx: Context, details: InteractionDetails): Promise<string> {
    return this.advance(ctx, details, await this.gate.postpone(ctx, details));
  }

  async clientView(details: InteractionDetails) {
    const clientId = String(details.params.client_id);
    const client = await this.deps.clients.find(clientId);
    return { id: clientId, name: (client?.client_name as string | undefined) ?? clientId, ...clientBranding(client) };
  }

  /** "Keep me signed in" from the login form; unchecked makes the SSO session cookie a browser-session cookie. */
  async keepSignedIn(uid: string, keep: boolean): Promise<void> {
    await this.deps.kv.set(`keep:${uid}`, keep ? '1' : '0', 3600);
  }

  get registry() {
    return this.deps.factorService.registry;
  }

  get factorService() {
    return this.deps.factorService;
  }

  private nowSeconds() {
    return Math.floor(this.deps.now() / 1000);
  }
}
