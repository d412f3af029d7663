/**
 * How an interaction ends: every way back to the relying party (oidc-provider's `interactionResult`) —
 * the sign-in with the acr/amr it reached, a consent, or an error (unmet requirements, refused by the risk
 * policy, aborted) — with what each exit records. The steps that lead here are in flow.ts.
 */
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { InteractionDetails } from './routes.js';
import type { AuthContext, AuthContextStore } from './auth-context.js';
import type { AuditLog } from '../audit/log.js';
import type { ClientsRepo } from '../store/repos/clients.js';
import type { UsersRepo } from '../store/repos/users.js';
import type { KvStore } from '../store/kv.js';
import type { RiskService } from '../risk/service.js';
import type { Decision } from '../policy/requirement.js';
import { LEVEL_CHECK, type StepwiseLoginExtras } from '../oidc/policy.js';
import { AppError } from '../errors/index.js';
import { preferredRequestLocale } from '../i18n/context.js';

export interface ExitDeps {
  provider: Provider;
  authContexts: AuthContextStore;
  /** Short-lived state: "keep me signed in" (`keep:<uid>`) and refused interactions (`denied:<uid>`). */
  kv: KvStore;
  audit: AuditLog;
  clients: ClientsRepo;
  users: UsersRepo;
  risk: RiskService;
  now: () => number;
}

/** A step-up: the session's own account asked again only because its level is not enough (audit `stepUp`, metrics). */
const stepUpDetail = (details: InteractionDetails) =>
  details.session?.accountId && details.prompt.reasons.every((r) => r === LEVEL_CHECK) ? { stepUp: true } : {};

const SCOPE_LABELS: Record<string, string> = {
  openid: 'Sign you in with your Stepwise account',
  email: 'Read your email address',
  profile: 'Read your name',
  offline_access: 'Stay signed in to this application (refresh tokens)',
};

export class InteractionExits {
  constructor(private readonly deps: ExitDeps) {}

  /** The sign-in reached `decision`: back to the RP signed in, and the device, network and place become known. */
  async finish(ctx: Context, details: InteractionDetails, authCtx: AuthContext, decision: Decision): Promise<string> {
    const { acr } = decision;
    const extras: StepwiseLoginExtras = decision.lowered ? { stepwise_lower: true } : {};
    // auth_time is this (latest) active authentication; the methods with their own times travel along so the
    // policy check can persist them for the session (see oidc/policy.ts).
    const observed = authCtx.risk?.observed;
    const sessionCtx: AuthContext = {
      ...authCtx,
      origin: observed ? { deviceHash: observed.deviceHash, network: observed.network } : authCtx.origin,
    };
    const login: Record<string, unknown> & StepwiseLoginExtras = {
      accountId: authCtx.accountId,
      acr,
      amr: decision.amr,
      ts: Math.floor(this.deps.now() / 1000),
      // oidc-provider: remember=false → session.transient (no Expires on the session cookie).
      remember: (await this.deps.kv.get(`keep:${details.uid}`)) !== '0',
      stepwise: sessionCtx,
      ...extras,
    };
    const result = { login: login as { accountId: string; acr: string; amr: string[]; ts: number; remember: boolean } };
    const target = await this.deps.provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    await this.deps.authContexts.clear(details.uid);
    // The language this sign-in was made in (ui_locales, switcher cookie, Accept-Language) becomes the user's
    // stored one, for mails sent later without a request of theirs. One UPDATE, a no-op when unchanged; a
    // failure to remember it never fails the sign-in.
    const locale = await preferredRequestLocale();
    if (locale) await this.deps.users.rememberLocale(authCtx.accountId, locale).catch(() => undefined);
    if (observed) {
      // This device, network and place are now known for the user; a second factor in this sign-in is the
      // device's last MFA; "remember this device" marks it.
      const startedAt = Math.min(...authCtx.methods.map((m) => m.at));
      const mfa = authCtx.methods.some((m) => m.kind !== 'password' && m.at >= startedAt);
      await this.deps.risk.completed(authCtx.accountId, observed, { mfa, rememberDevice: Boolean(authCtx.rememberDevice && mfa), ip: ctx.ip, startedAt });
    }
    await this.deps.audit.record({
      type: 'login.complete',
      outcome: 'success',
      userId: authCtx.accountId,
      clientId: String(details.params.client_id),
      ip: ctx.ip,
      details: { acr, amr: result.login.amr, ...(extras.stepwise_lower ? { lower: true } : {}), ...stepUpDetail(details) },
    });
    return target;
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
      details: stepUpDetail(details),
    });
    return this.deps.provider.interactionResult(
      ctx.req,
      ctx.res,
      { error: 'unmet_authentication_requirements', error_description: 'the user cannot reach the requested authentication level' },
      { mergeWithLastSubmission: false },
    );
  }

  /** The risk policy refused the sign-in: the page explains (GET /denied), and the RP gets access_denied. */
  async denied(ctx: Context, details: InteractionDetails, accountId: string): Promise<string> {
    await this.deps.authContexts.clear(details.uid);
    await this.deps.kv.set(`denied:${details.uid}`, accountId, 3600);
    await this.deps.audit.record({ type: 'login.denied', outcome: 'failure', userId: accountId, clientId: String(details.params.client_id), ip: ctx.ip, details: stepUpDetail(details) });
    return `/interaction/${details.uid}/denied`;
  }

  /** Whether this interaction was refused by the risk policy (the denied page shows only then). */
  async wasDenied(details: InteractionDetails): Promise<boolean> {
    return (await this.deps.kv.get(`denied:${details.uid}`)) !== null;
  }

  /** Leaves a refused sign-in: back to the RP with access_denied. */
  async leaveDenied(ctx: Context, details: InteractionDetails): Promise<string> {
    await this.deps.kv.del(`denied:${details.uid}`);
    return this.deps.provider.interactionResult(
      ctx.req,
      ctx.res,
      { error: 'access_denied', error_description: 'the sign-in was refused by the security policy' },
      { mergeWithLastSubmission: false },
    );
  }

  /** The user cancelled: back to the RP with access_denied. */
  async abort(ctx: Context, details: InteractionDetails): Promise<string> {
    await this.deps.authContexts.clear(details.uid);
    return this.deps.provider.interactionResult(
      ctx.req,
      ctx.res,
      { error: 'access_denied', error_description: 'End-User aborted interaction' },
      { mergeWithLastSubmission: false },
    );
  }

  /** First-party clients are trusted by the operator: no consent screen, even for prompt=consent. */
  async isFirstParty(details: InteractionDetails): Promise<boolean> {
    return Boolean((await this.deps.clients.find(String(details.params.client_id)))?.first_party);
  }

  /** The scopes the consent page asks for, with their labels. */
  requestedScopes(details: InteractionDetails) {
    const missing = (details.prompt.details.missingOIDCScope as string[] | undefined) ?? String(details.params.scope ?? '').split(' ');
    return missing.filter(Boolean).map((s) => ({ name: s, label: SCOPE_LABELS[s] ?? s }));
  }

  /** The user allowed access (or the client is first-party): the grant gets what the prompt found missing. */
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
}
