/** oidc-provider configuration: one place for protocol options, claims, cookies, TTLs and error pages. */
import Provider, { errors, interactionPolicy, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Config } from '../config/index.js';
import type { UsersRepo } from '../store/repos/users.js';
import type { Views } from '../http/views.js';
import type { PrivateJwk } from './keys.js';
import { ERRORS } from '../errors/index.js';
import { clientPolicySchema, readClientPolicy } from '../policy/client-policy.js';
import { discoveryLevels, type LevelRule } from '../policy/levels.js';
import { ALLOWED_ORIGINS_PROPERTY, allowedOriginsProblem, isOriginAllowed } from './cors.js';
import { ADMIN_SCOPES } from '../admin/scopes.js';

export interface ProviderDeps {
  config: Config;
  users: UsersRepo;
  views: Views;
  jwks: PrivateJwk[];
  adapter: (name: string) => NonNullable<Configuration['adapter']> extends infer A ? (A extends (...args: never[]) => infer R ? R : never) : never;
  levels: LevelRule[];
  policy?: interactionPolicy.Prompt[];
  /** Languages of the hosted pages (discovery ui_locales_supported; src/i18n/). */
  uiLocales?: string[];
}

/**
 * Custom client metadata; `first_party` lets trusted clients skip the consent screen;
 * `stepwise_allowed_origins` lists browser origins (beyond the redirect URIs') allowed by CORS (oidc/cors.ts).
 */
/** oidc-provider routes a person's browser navigates to: errors there are pages, everywhere else JSON. */
const BROWSER_ROUTES = new Set(['authorization', 'resume', 'end_session', 'end_session_confirm', 'end_session_success', 'code_verification', 'device_resume']);

export const CLIENT_EXTRA_PROPERTIES = ['first_party', 'stepwise_policy', ALLOWED_ORIGINS_PROPERTY];

export function createProvider(deps: ProviderDeps): Provider {
  const { config, users, views } = deps;
  const secure = config.issuer.startsWith('https://');
  const cookieOptions = { httpOnly: true, sameSite: 'lax' as const, secure, signed: true };

  const configuration: Configuration = {
    adapter: deps.adapter as Configuration['adapter'],
    jwks: { keys: deps.jwks as never },
    acrValues: deps.levels.map((l) => l.acr),
    // Each level's max age, so resource servers (stepwise/rs) can tell when an acr no longer holds.
    discovery: { stepwise_acr_levels: discoveryLevels(deps.levels), ...(deps.uiLocales ? { ui_locales_supported: deps.uiLocales } : {}) },
    responseTypes: ['code'],
    claims: {
      // acr, amr and auth_time are requested implicitly by `openid`, so every ID token carries them.
      openid: ['sub', 'acr', 'amr', 'auth_time'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      acr: null,
      amr: null,
      auth_time: null,
      sid: null,
    },
    // API scopes (STEPWISE_API_SCOPES) are accepted too; without them oidc-provider drops a request's
    // non-OIDC scopes before any check sees them, so a client's sensitive_scopes could never match.
    // The admin API's scopes are listed so the token endpoint enforces a service client's registered `scope`
    // allow-list for them (src/admin/scopes.ts); the admin API checks the client's registration again.
    scopes: ['openid', 'offline_access', 'email', 'profile', ...config.apiScopes, ...ADMIN_SCOPES],
    extraClientMetadata: {
      properties: CLIENT_EXTRA_PROPERTIES,
      validator(_ctx, key, value) {
        if (key === 'first_party' && value !== undefined && typeof value !== 'boolean') {
          throw new errors.InvalidClientMetadata('first_party must be a boolean');
        }
        if (key === 'stepwise_policy' && value !== undefined && !clientPolicySchema.safeParse(value).success) {
          throw new errors.InvalidClientMetadata('stepwise_policy is invalid');
        }
        if (key === ALLOWED_ORIGINS_PROPERTY) {
          const problem = allowedOriginsProblem(value, { production: config.env === 'production' });
          if (problem) throw new errors.InvalidClientMetadata(`${ALLOWED_ORIGINS_PROPERTY}: ${problem}`);
        }
      },
    },
    features: {
      devInteractions: { enabled: false },
      // Machine clients (admin API service clients, `clients create --service`) get tokens without a user.
      clientCredentials: { enabled: true },
      // Sender-constrained tokens (RFC 9449); clients with `dpop_bound_access_tokens` must present proofs.
      dPoP: { enabled: true },
      claimsParameter: { enabled: true },
      introspection: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      // Back-Channel Logout 1.0: RPs that register a backchannel_logout_uri get a logout token when the
      // user signs out (the end-session confirmation).
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.type = 'html';
          ctx.body = await views.render('logout', { title: 'Sign out', form });
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = await views.render('logged-out', { title: 'Signed out' });
        },
      },
    },
    // OIDC Core §3.1.2.1 / RP-Initiated Logout §2: GET and POST. POST needs the session cookie on cross-site
    // requests (SameSite=None, hence Secure), so it is on only with an https issuer; on plain-http
    // development issuers only GET works. What keeps it safe: the interaction pages' own CSRF tokens, the
    // logout confirmation's xsrf token, and PKCE on every code.
    enableHttpPostMethods: secure,
    pkce: {
      required: (_ctx, client) =>
        !(readClientPolicy(client as unknown as Record<string, unknown>).pkce_optional && client.tokenEndpointAuthMethod !== 'none'),
    },
    cookies: {
      keys: config.secrets.cookieKeys,
      // Behind https the session cookie is SameSite=None (Secure), which POST /auth and /session/end from
      // an RP's origin need (see enableHttpPostMethods); the interaction cookie stays Lax.
      long: secure ? { ...cookieOptions, sameSite: 'none' as const } : cookieOptions,
      short: cookieOptions,
      names: { session: 'stepwise_session', interaction: 'stepwise_interaction', resume: 'stepwise_resume' },
    },
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 3600,
      Session: config.sessionTtlSeconds,
      Grant: config.sessionTtlSeconds,
      // Sliding 14 days, but never past the chain's absolute lifetime counted from its first issue (iiat):
      // rotation does not restart the clock.
      RefreshToken: (_ctx, token) =>
        Math.max(1, Math.min(14 * 24 * 3600, config.refreshTokenMaxLifetimeSeconds - (token as unknown as { totalLifetime(): number }).totalLifetime())),
      ClientCredentials: 600,
      DeviceCode: 600,
      BackchannelAuthenticationRequest: 600,
    },
    issueRefreshToken: async (_ctx, client, code) =>
      client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    // Always rotate — but decide first whether the request can succeed at all: oidc-provider resolves the
    // `resource` parameter only after rotating, so a request refused with invalid_target would spend the
    // token and the client's retry would look like reuse (revoking the grant). No resource servers are
    // configured, so any `resource` on a refresh is refused here, before anything is consumed.
    rotateRefreshToken: (ctx) => {
      if (ctx.oidc.params?.resource !== undefined) throw new errors.InvalidTarget();
      return true;
    },
    // RFC 9470 §6: access tokens (introspection, JWT) carry the authentication event they stem from. After a
    // refresh, acr/amr are what that event still holds now (oidc/refresh-decay.ts); auth_time stays original.
    async extraTokenClaims(ctx, token) {
      if (token.kind !== 'AccessToken') return undefined;
      const source = (ctx.oidc.entities.AuthorizationCode ?? ctx.oidc.entities.RefreshToken) as
        | { acr?: string; amr?: string[]; authTime?: number }
        | undefined;
      if (!source) return undefined;
      return { acr: source.acr, amr: source.amr, auth_time: source.authTime };
    },
    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
      ...(deps.policy ? { policy: deps.policy } : {}),
    },
    async loadExistingGrant(ctx: KoaContextWithOIDC) {
      const { client, session, params } = ctx.oidc;
      if (!client || !session?.accountId) return undefined;
      const grantId = (ctx.oidc.result?.consent as { grantId?: string } | undefined)?.grantId ?? session.grantIdFor(client.clientId);
      const existing = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
      // A grant can be gone (its user's tokens were ended, oidc/grant-epoch.ts): first-party clients get a new one.
      if (existing) return existing;
      // First-party clients are trusted by the operator: grant what they ask for without a consent screen.
      if ((client as unknown as { first_party?: boolean }).first_party) {
        const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
        grant.addOIDCScope(String(params?.scope ?? 'openid'));
        grant.addOIDCClaims(['sub', 'acr', 'amr', 'auth_time']);
        await grant.save();
        return grant;
      }
      return undefined;
    },
    async findAccount(_ctx, sub) {
      const user = await users.findById(sub);
      if (!user || user.disabled) return undefined;
      return {
        accountId: user.id,
        async claims() {
          return { sub: user.id, email: user.email, email_verified: user.emailVerified, ...(user.name ? { name: user.name } : {}) };
        },
      };
    },
    async renderError(ctx, out, error) {
      // Only pages a browser navigates to get HTML; /token, /me, introspection… answer JSON whatever the
      // Accept header says (RFC 6749 §5.2).
      if (!BROWSER_ROUTES.has(String(ctx.oidc?.route))) {
        ctx.type = 'json';
        ctx.body = out;
        return;
      }
      ctx.type = 'html';
      const unavailable = (error as { statusCode?: number }).statusCode === 503;
      ctx.body = await views.render('error', {
        title: 'Sign-in problem',
        message: unavailable ? ERRORS.store_unavailable.message : out.error_description ?? 'The request could not be completed.',
        code: out.error,
      });
    },
    // Browser apps (SPAs) may call the token, userinfo, revocation and introspection endpoints from the
    // origins of their redirect URIs and their stepwise_allowed_origins; any other origin gets 400, no ACAO.
    // oidc-provider guards its outgoing requests against loopback/private targets (SSRF); a development
    // setup may lift that for local relying parties (config allowPrivateOutbound, refused in production).
    ...(config.allowPrivateOutbound ? { fetch: (input: string | URL | Request, init?: RequestInit) => globalThis.fetch(input, { ...init, dispatcher: undefined } as RequestInit) } : {}),
    clientBasedCORS: (_ctx, origin, client) =>
      isOriginAllowed(origin, {
        redirectUris: client.redirectUris,
        allowedOrigins: (client as unknown as Record<string, string[] | undefined>)[ALLOWED_ORIGINS_PROPERTY],
      }),
    enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
  };

  const provider = new Provider(config.issuer, configuration);
  provider.proxy = config.trustProxy !== false;
  return provider;
}
