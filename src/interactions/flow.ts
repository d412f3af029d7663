/**
 * The sign-in state machine behind the hosted pages: which step comes next, and finishing the
 * oidc-provider interaction with the acr/amr the verified methods reached.
 */
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { InteractionDetails } from './routes.js';
import type { AuthContext, AuthContextStore } from './auth-context.js';
import type { PasswordFactor } from '../factors/password.js';
import type { Throttle } from '../security/rate-limit.js';
import type { AuditLog } from '../audit/log.js';
import type { ClientsRepo } from '../store/repos/clients.js';
import type { UsersRepo } from '../store/repos/users.js';
import type { FactorService } from '../factors/service.js';
import type { SecondFactorKind } from '../factors/registry.js';
import type { FactorContext, FactorInput, VerifiedMethod } from '../factors/types.js';
import { normaliseEmail } from '../store/repos/users.js';
import { amrFor, type LevelRule } from '../policy/levels.js';
import { readClientPolicy, type ClientPolicy } from '../policy/client-policy.js';
import { currentLevel, levelOf, levelsFor, requirement, strongestHeld, tokenAcr, usefulFactors, type Requirement } from '../policy/decision.js';
import { LEVEL_CHECK, type StepwiseLoginExtras } from '../oidc/policy.js';
import { AppError } from '../errors/index.js';

export interface FlowDeps {
  provider: Provider;
  authContexts: AuthContextStore;
  /** Per-SSO-session authentication context (methods with times), keyed by session uid. */
  sessions: AuthContextStore;
  password: PasswordFactor;
  throttles: { loginIp: Throttle; loginAccount: Throttle; loginAccountIp: Throttle };
  audit: AuditLog;
  clients: ClientsRepo;
  users: UsersRepo;
  factorService: FactorService;
  levels: LevelRule[];
  now: () => number;
}

const SCOPE_LABELS: Record<string, string> = {
  openid: 'Sign you in with your Stepwise account',
  email: 'Read your email address',
  profile: 'Read your name',
  offline_access: 'Stay signed in to this application (refresh tokens)',
};

export class SignInFlow {
  constructor(private readonly deps: FlowDeps) {}

  get registry() {
    return this.deps.factorService.registry;
  }

  get factorService() {
    return this.deps.factorService;
  }

  private nowSeconds() {
    return Math.floor(this.deps.now() / 1000);
  }

  async clientView(details: InteractionDetails) {
    const clientId = String(details.params.client_id);
    const client = await this.deps.clients.find(clientId);
    return { id: clientId, name: (client?.client_name as string | undefined) ?? clientId };
  }

  async isFirstParty(details: InteractionDetails): Promise<boolean> {
    return Boolean((await this.deps.clients.find(String(details.params.client_id)))?.first_party);
  }

  requestedScopes(details: InteractionDetails) {
    const missing = (details.prompt.details.missingOIDCScope as string[] | undefined) ?? String(details.params.scope ?? '').split(' ');
    return missing.filter(Boolean).map((s) => ({ name: s, label: SCOPE_LABELS[s] ?? s }));
  }

  /** What this authorization request needs, from its parameters and the client's policy (same rules as the check). */
  async evaluate(details: InteractionDetails): Promise<{ req: Requirement; policy: ClientPolicy; levels: LevelRule[] }> {
    const client = await this.deps.clients.find(String(details.params.client_id));
    const policy = readClientPolicy(client);
    const levels = levelsFor(this.deps.levels, policy);
    let claimsAcr: { essential?: boolean; value?: string; values?: string[] } | null = null;
    if (typeof details.params.claims === 'string') {
      try {
        claimsAcr = (JSON.parse(details.params.claims) as { id_token?: { acr?: typeof claimsAcr } }).id_token?.acr ?? null;
      } catch {
        claimsAcr = null; // oidc-provider already rejected malformed claims before any interaction
      }
    }
    const acrValues = typeof details.params.acr_values === 'string' ? details.params.acr_values : undefined;
    return { req: requirement(levels, policy, { acrValues, claimsAcr }), policy, levels };
  }

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

  /**
   * The level this sign-in must reach: the request's requirement, and two factors for a user who has a
   * second factor enrolled (their password alone never signs them in). `goal` is the level to work towards
   * now: the required one when the user's factors can reach it, otherwise — only for clients that accept a
   * lower acr on voluntary requests — the highest level still reachable.
   */
  private async target(details: InteractionDetails, authCtx: AuthContext) {
    const evaluation = await this.evaluate(details);
    const { levels, policy } = evaluation;
    const { kinds: enrolled } = await this.deps.factorService.enrolled(authCtx.accountId);
    const floor = enrolled.length > 0 ? 2 : 1;
    const needed = Math.max(evaluation.req.level, floor);
    const req: Requirement = { ...evaluation.req, level: needed, accepted: evaluation.req.accepted.filter((a) => (levelOf(levels, a) ?? 0) >= needed) };
    const now = this.nowSeconds();
    const offerFor = (level: number): SecondFactorKind[] => {
      const rule = levels.filter((l) => l.level >= level).sort((a, b) => a.level - b.level)[0];
      if (!rule) return [];
      // A factor verified longer ago than this level's max age may be verified again.
      const since = now - Math.min(rule.maxAgeSeconds, policy.max_age_seconds ?? Number.POSITIVE_INFINITY);
      const candidates = enrolled
        .filter((k) => !authCtx.methods.some((m) => m.kind === k && m.at >= since))
        .map((k) => ({ kind: k, category: this.registry[k].info.category, phishingResistant: this.registry[k].info.phishingResistant }));
      return usefulFactors(rule, authCtx.methods, candidates, now, policy).map((c) => c.kind) as SecondFactorKind[];
    };
    let offer = offerFor(needed);
    if (offer.length === 0 && policy.allow_lower_acr && !req.essential) {
      for (let level = needed - 1; level >= floor && offer.length === 0; level--) {
        if (currentLevel(levels, authCtx.methods, now, policy) >= level) break;
        offer = offerFor(level);
      }
    }
    return { ...evaluation, req, offer, now };
  }

  /** Second-factor kinds worth offering now: enrolled, allowed for the client, and able to reach the goal. */
  async remainingFactors(details: InteractionDetails, authCtx: AuthContext): Promise<SecondFactorKind[]> {
    return (await this.target(details, authCtx)).offer;
  }

  /** Verifies one second factor in this interaction and moves on. */
  async secondFactor(ctx: Context, details: InteractionDetails, kind: string, input: FactorInput): Promise<string> {
    const { ctx: fctx, authCtx } = await this.factorContext(details);
    const method = await this.deps.factorService.verify(kind, fctx, input, { ip: ctx.ip, clientId: String(details.params.client_id) });
    return this.afterMethod(ctx, details, authCtx.accountId, method);
  }

  /** Passkey as the first step: the credential names the user. */
  async passwordless(ctx: Context, details: InteractionDetails, input: FactorInput): Promise<string> {
    const webauthn = this.deps.factorService.registry.webauthn;
    let verified: { userId: string; method: VerifiedMethod };
    try {
      await this.deps.throttles.loginIp.assertAllowed(ctx.ip);
      verified = await webauthn.verifyPasswordless(details.uid, input, this.deps.now());
      // The credential names the user; a disabled account gets the same answer as a failed assertion.
      const user = await this.deps.users.findById(verified.userId);
      if (!user || user.disabled) throw new AppError('webauthn_failed');
    } catch (err) {
      if (err instanceof AppError && (err.code === 'webauthn_failed' || err.code === 'challenge_expired')) {
        await this.deps.throttles.loginIp.fail(ctx.ip);
        await this.deps.audit.record({ type: 'login.passkey', outcome: 'failure', clientId: String(details.params.client_id), ip: ctx.ip, details: { reason: err.code } });
      }
      throw err;
    }
    await this.deps.audit.record({ type: 'login.passkey', outcome: 'success', userId: verified.userId, clientId: String(details.params.client_id), ip: ctx.ip });
    return this.afterMethod(ctx, details, verified.userId, verified.method);
  }

  private async afterMethod(ctx: Context, details: InteractionDetails, accountId: string, method: VerifiedMethod): Promise<string> {
    const authCtx = await this.deps.authContexts.addMethod(details.uid, accountId, method);
    return this.advance(ctx, details, authCtx);
  }

  /** Password step. Returns where to send the browser next. */
  async password(ctx: Context, details: InteractionDetails, email: string, password: string): Promise<string> {
    const { throttles, audit } = this.deps;
    const account = normaliseEmail(email);
    const ip = ctx.ip;
    const clientId = String(details.params.client_id);
    await throttles.loginIp.assertAllowed(ip);
    await throttles.loginAccount.assertAllowed(account);
    await throttles.loginAccountIp.assertAllowed(`${account}|${ip}`);
    let verified;
    try {
      verified = await this.deps.password.verify(email, password, this.nowSeconds());
    } catch (err) {
      if (err instanceof AppError && err.code === 'invalid_credentials') {
        await Promise.all([
          throttles.loginIp.fail(ip),
          throttles.loginAccount.fail(account),
          throttles.loginAccountIp.fail(`${account}|${ip}`),
        ]);
        await audit.record({ type: 'login.password', outcome: 'failure', clientId, ip, details: { email: account } });
      }
      throw err;
    }
    await throttles.loginAccountIp.reset(`${account}|${ip}`);
    await audit.record({ type: 'login.password', outcome: 'success', userId: verified.user.id, clientId, ip });
    const authCtx = await this.deps.authContexts.addMethod(details.uid, verified.user.id, verified.method);
    return this.advance(ctx, details, authCtx);
  }

  /**
   * On GET of the interaction page: continue a sign-in that already has a verified step, or — when the only
   * reason for this prompt is an insufficient level — step up: keep the session's still-valid methods
   * (the user keeps their password step) and ask only for what is missing.
   */
  async resume(ctx: Context, details: InteractionDetails): Promise<string | null> {
    if (details.prompt.details.stepwise_unmet) {
      return this.unmet(ctx, details, { accountId: details.session?.accountId ?? '', methods: [] });
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
    const { req, levels, policy } = await this.evaluate(details);
    const rule = levels.filter((l) => l.level >= req.level).sort((a, b) => a.level - b.level)[0];
    const maxAgeParam = Number(details.params.max_age);
    const since = this.nowSeconds() - Math.min(rule?.maxAgeSeconds ?? 0, policy.max_age_seconds ?? Number.POSITIVE_INFINITY, Number.isFinite(maxAgeParam) ? maxAgeParam : Number.POSITIVE_INFINITY);
    const carried = { accountId: sctx.accountId, methods: sctx.methods.filter((m) => m.at >= since) };
    if (!carried.methods.some((m) => m.kind === 'password' || (m.kind === 'webauthn' && m.userVerified))) return null;
    await this.deps.authContexts.set(details.uid, carried);
    return this.advance(ctx, details, carried);
  }

  /** Finishes when the reached level is enough, otherwise sends the user to the next factor. */
  async advance(ctx: Context, details: InteractionDetails, authCtx: AuthContext): Promise<string> {
    const { req, policy, levels, offer, now } = await this.target(details, authCtx);
    if (req.unmet) return this.unmet(ctx, details, authCtx);
    const acr = tokenAcr(levels, req, authCtx.methods, now, policy);
    if (acr) return this.finish(ctx, details, authCtx, acr);
    if (offer.length > 0) return `/interaction/${details.uid}/factor`;
    // Cannot reach the level. A client may accept the lower level reached for voluntary requests.
    const lower = policy.allow_lower_acr && !req.essential ? strongestHeld(levels, authCtx.methods, now, policy) : undefined;
    if (lower) return this.finish(ctx, details, authCtx, lower, { stepwise_lower: true });
    if ((await this.enrollableFactors(details, authCtx)).length > 0) return `/interaction/${details.uid}/enroll`;
    return this.unmet(ctx, details, authCtx);
  }

  /**
   * Factors a user may enroll inside this sign-in so it can continue (client policy `enroll_on_unmet`).
   * Only for accounts without any second factor, right after their password: binding a first second factor
   * needs only the password (NIST 800-63B-4 §4.1.2.1). Accounts that already have MFA use /account.
   */
  async enrollableFactors(details: InteractionDetails, authCtx: AuthContext): Promise<SecondFactorKind[]> {
    const { req, policy, levels, now } = await this.target(details, authCtx);
    if (!policy.enroll_on_unmet || req.unmet) return [];
    const { factors } = await this.deps.factorService.enrolled(authCtx.accountId);
    if (factors.length > 0) return [];
    if (!authCtx.methods.some((m) => m.kind === 'password' && m.at >= now - 600)) return [];
    const rule = levels.filter((l) => l.level >= req.level).sort((a, b) => a.level - b.level)[0];
    if (!rule) return [];
    const candidates = (['webauthn', 'totp'] as const).map((k) => ({ kind: k, category: this.registry[k].info.category, phishingResistant: this.registry[k].info.phishingResistant }));
    return usefulFactors(rule, authCtx.methods, candidates, now, policy).map((c) => c.kind as SecondFactorKind);
  }

  /** The user cannot reach the required level with what they have enrolled (OpenID Connect Unmet Authentication Requirements 1.0). */
  async unmet(ctx: Context, details: InteractionDetails, authCtx: AuthContext): Promise<string> {
    await this.deps.authContexts.clear(details.uid);
    await this.deps.audit.record({
      type: 'login.unmet_requirements',
      outcome: 'failure',
      userId: authCtx.accountId,
      clientId: String(details.params.client_id),
      ip: ctx.ip,
    });
    return this.deps.provider.interactionResult(
      ctx.req,
      ctx.res,
      { error: 'unmet_authentication_requirements', error_description: 'the user cannot reach the requested authentication level' },
      { mergeWithLastSubmission: false },
    );
  }

  async finish(ctx: Context, details: InteractionDetails, authCtx: AuthContext, acr: string, extras: StepwiseLoginExtras = {}): Promise<string> {
    // auth_time is this (latest) active authentication; the methods with their own times travel along so the
    // policy check can persist them for the session (see oidc/policy.ts).
    const login: Record<string, unknown> & StepwiseLoginExtras = {
      accountId: authCtx.accountId,
      acr,
      amr: amrFor(authCtx.methods),
      ts: this.nowSeconds(),
      remember: true,
      stepwise: authCtx,
      ...extras,
    };
    const result = { login: login as { accountId: string; acr: string; amr: string[]; ts: number; remember: boolean } };
    const target = await this.deps.provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    await this.deps.authContexts.clear(details.uid);
    await this.deps.audit.record({
      type: 'login.complete',
      outcome: 'success',
      userId: authCtx.accountId,
      clientId: String(details.params.client_id),
      ip: ctx.ip,
      details: { acr, amr: result.login.amr, ...(extras.stepwise_lower ? { lower: true } : {}) },
    });
    return target;
  }

  async consent(ctx: Context, details: InteractionDetails): Promise<string> {
    const { provider } = this.deps;
    const accountId = details.session?.accountId;
    if (!accountId) throw new AppError('interaction_not_found');
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId, clientId: String(details.params.client_id) });
    if (!grant) throw new AppError('interaction_not_found');
    const d = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
    const grantId = await grant.save();
    await this.deps.audit.record({ type: 'consent.granted', outcome: 'success', userId: accountId, clientId: String(details.params.client_id), ip: ctx.ip, details: { scopes: d.missingOIDCScope ?? [] } });
    return provider.interactionResult(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  async abort(ctx: Context, details: InteractionDetails): Promise<string> {
    await this.deps.authContexts.clear(details.uid);
    return this.deps.provider.interactionResult(
      ctx.req,
      ctx.res,
      { error: 'access_denied', error_description: 'End-User aborted interaction' },
      { mergeWithLastSubmission: false },
    );
  }
}
