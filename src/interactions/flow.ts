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
import { amrFor, highestReached, type LevelRule } from '../policy/levels.js';
import { AppError } from '../errors/index.js';

export interface FlowDeps {
  provider: Provider;
  authContexts: AuthContextStore;
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

  /**
   * Level this interaction must reach before it may finish: what the step-up policy demanded, and at least
   * two factors for a user who has enrolled a second factor (their password alone never signs them in).
   */
  requiredLevel(details: InteractionDetails, userHasSecondFactor: boolean): number {
    const fromPolicy = Number(details.prompt.details.stepwise_required_level ?? 0);
    return Math.max(1, Number.isFinite(fromPolicy) ? fromPolicy : 1, userHasSecondFactor ? 2 : 1);
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

  /** Second-factor kinds the user could still use in this interaction (not yet verified). */
  async remainingFactors(authCtx: AuthContext): Promise<SecondFactorKind[]> {
    const { kinds } = await this.deps.factorService.enrolled(authCtx.accountId);
    return kinds.filter((k) => !authCtx.methods.some((m) => m.kind === k));
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

  /** On GET of the interaction page: continue a sign-in that already has a verified step. */
  async resume(details: InteractionDetails): Promise<string | null> {
    const authCtx = await this.deps.authContexts.get(details.uid);
    return authCtx ? `/interaction/${details.uid}/factor` : null;
  }

  /** Finishes when the reached level is enough, otherwise sends the user to the next factor. */
  async advance(ctx: Context, details: InteractionDetails, authCtx: AuthContext): Promise<string> {
    const remaining = await this.remainingFactors(authCtx);
    const hasSecondFactor = remaining.length > 0 || authCtx.methods.some((m) => m.kind !== 'password');
    const reached = highestReached(this.deps.levels, authCtx.methods);
    if (reached && reached.level >= this.requiredLevel(details, hasSecondFactor)) return this.finish(ctx, details, authCtx, reached.acr);
    if (remaining.length > 0) return `/interaction/${details.uid}/factor`;
    return this.unmet(ctx, details, authCtx);
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

  async finish(ctx: Context, details: InteractionDetails, authCtx: AuthContext, acr: string): Promise<string> {
    const result = {
      login: { accountId: authCtx.accountId, acr, amr: amrFor(authCtx.methods), ts: this.nowSeconds(), remember: true },
    };
    const target = await this.deps.provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    await this.deps.authContexts.clear(details.uid);
    await this.deps.audit.record({
      type: 'login.complete',
      outcome: 'success',
      userId: authCtx.accountId,
      clientId: String(details.params.client_id),
      ip: ctx.ip,
      details: { acr, amr: result.login.amr },
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
