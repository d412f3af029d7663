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

  /** Level this interaction must reach before it may finish. */
  requiredLevel(details: InteractionDetails): number {
    const fromPolicy = Number(details.prompt.details.stepwise_required_level ?? 0);
    return Math.max(1, Number.isFinite(fromPolicy) ? fromPolicy : 1);
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
  async resume(_details: InteractionDetails): Promise<string | null> {
    return null;
  }

  /** Finishes when the reached level is enough, otherwise sends the user to the next factor. */
  async advance(ctx: Context, details: InteractionDetails, authCtx: AuthContext): Promise<string> {
    const reached = highestReached(this.deps.levels, authCtx.methods);
    if (reached && reached.level >= this.requiredLevel(details)) return this.finish(ctx, details, authCtx, reached.acr);
    throw new AppError('forbidden', 'This application needs a stronger sign-in than your account supports.');
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
