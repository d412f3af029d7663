/**
 * oidc-provider events → counters and log lines. Logged are names, client ids, grant types and error codes
 * only — never parameters, bodies or URLs (they carry codes, tokens and client secrets).
 */
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';
import { isStoreOutage } from '../errors/index.js';
import { storeOf, type Metrics } from './registry.js';

interface EventCtx {
  oidc?: { params?: { grant_type?: unknown }; client?: { clientId?: string }; route?: string };
}
interface OidcError {
  error?: string;
  error_description?: string;
}

const grantType = (ctx: EventCtx) => (typeof ctx.oidc?.params?.grant_type === 'string' ? ctx.oidc.params.grant_type : 'unknown');
const clientId = (ctx: EventCtx) => ctx.oidc?.client?.clientId;

export function observeProvider(provider: Provider, metrics: Metrics, log: Logger): void {
  provider.on('grant.success', (ctx: EventCtx) => {
    metrics.tokenGrants.inc({ grant_type: grantType(ctx), result: 'success' });
    log.debug({ event: 'grant.success', grantType: grantType(ctx), clientId: clientId(ctx) }, 'oidc: token grant');
  });
  provider.on('grant.error', (ctx: EventCtx, err: OidcError) => {
    metrics.tokenGrants.inc({ grant_type: grantType(ctx), result: 'error' });
    log.info({ event: 'grant.error', grantType: grantType(ctx), clientId: clientId(ctx), error: err?.error }, 'oidc: token grant refused');
  });
  provider.on('authorization.success', (ctx: EventCtx) => log.debug({ event: 'authorization.success', clientId: clientId(ctx) }, 'oidc: authorization'));
  provider.on('authorization.error', (ctx: EventCtx, err: OidcError) =>
    log.info({ event: 'authorization.error', clientId: clientId(ctx), error: err?.error }, 'oidc: authorization refused'),
  );
  provider.on('interaction.started', (ctx: EventCtx) => log.debug({ event: 'interaction.started', clientId: clientId(ctx) }, 'oidc: interaction'));
  provider.on('end_session.success', (ctx: EventCtx) => log.debug({ event: 'end_session.success', clientId: clientId(ctx) }, 'oidc: signed out'));
  provider.on('server_error', (ctx: EventCtx, err: unknown) => {
    if (isStoreOutage(err)) metrics.storeErrors.inc({ store: storeOf(err), source: 'oidc' });
    // Name, message and code only: a driver error's other fields (e.g. pg `detail`) may quote stored values.
    const e = err as { name?: string; message?: string; code?: string } | undefined;
    log.error({ event: 'server_error', route: ctx.oidc?.route, err: { name: e?.name, message: e?.message, code: e?.code } }, 'oidc: server error');
  });
}
