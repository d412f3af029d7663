/**
 * The language of the current request, available to every render and error message without passing it
 * through each call site: a middleware puts it in the request scope (src/http/request-scope.ts); the locale is
 * decided lazily (on first use) from ui_locales, the switcher cookie and Accept-Language.
 */
import type { Context, Next } from 'koa';
import { currentScope, runWithPatch, withScopeValue } from '../http/request-scope.js';
import type Provider from 'oidc-provider';
import { DEFAULT_LOCALE, defaultI18n, type I18n, type Translate } from './index.js';

export const LANGUAGE_COOKIE = 'stepwise_lang';

interface RequestLocale {
  i18n: I18n;
  ctx: Context;
  provider: Provider | undefined;
  locale?: string;
  /** The request asked for `locale` (ui_locales, cookie or Accept-Language) rather than falling back to English. */
  preferred?: boolean;
}

// The request scope's `locale` slot (src/http/request-scope.ts: one AsyncLocalStorage per request).
const localeState = (): RequestLocale | undefined => currentScope()?.locale as RequestLocale | undefined;

const INTERACTION_PATH = /^\/interaction\/([A-Za-z0-9_-]{1,64})(\/|$)/;

/** ui_locales of this request: on /auth itself, or kept by oidc-provider in the interaction's params. */
async function uiLocalesOf(state: RequestLocale): Promise<string | undefined> {
  const { ctx, provider } = state;
  const direct = ctx.query.ui_locales ?? (ctx.request as { body?: Record<string, unknown> }).body?.ui_locales;
  if (typeof direct === 'string') return direct;
  const m = INTERACTION_PATH.exec(ctx.path);
  if (!m || !provider) return undefined;
  try {
    const interaction = await provider.Interaction.find(m[1]!);
    const value = interaction?.params?.ui_locales;
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined; // the page itself reports a missing interaction or a store outage
  }
}

async function decide(state: RequestLocale): Promise<string> {
  if (state.locale) return state.locale;
  const { ctx, i18n } = state;
  const sources = {
    uiLocales: await uiLocalesOf(state),
    cookie: ctx.cookies.get(LANGUAGE_COOKIE),
    acceptLanguage: ctx.get('Accept-Language'),
  };
  const preferred = i18n.preferred(sources);
  state.preferred = preferred !== undefined;
  state.locale = preferred ?? i18n.negotiate(sources);
  return state.locale;
}

/**
 * Decides the locale up front (one interaction read on /interaction pages), so every message agrees. Where
 * `upFront` says no (the protocol's machine endpoints: their error_description is ASCII by RFC 6749 §5.2 and
 * never localised), it is decided only if something asks for it, and errors speak English.
 */
export function localeContext(i18n: I18n, provider?: Provider, upFront: (ctx: Context) => boolean = () => true) {
  return function withLocale(ctx: Context, next: Next) {
    const state: RequestLocale = { i18n, ctx, provider };
    if (!upFront(ctx)) return withScopeValue('locale', state, next);
    return withScopeValue('locale', state, async () => {
      await decide(state);
      return next();
    });
  };
}

/** The current request's locale (decided now if not yet), or English outside a request. */
export async function requestLocale(): Promise<string> {
  const state = localeState();
  return state ? decide(state) : DEFAULT_LOCALE;
}

/**
 * The language the current request asked for (ui_locales, the switcher cookie, Accept-Language) — the
 * triggering request's in the mail locale chain — or undefined: outside a request, when the request states
 * no supported preference, or inside `onBehalfOfUsers` (an admin's request).
 */
export async function preferredRequestLocale(): Promise<string | undefined> {
  const state = localeState();
  if (!state || currentScope()?.onBehalf) return undefined;
  const locale = await decide(state);
  return state.preferred ? locale : undefined;
}

/**
 * Koa middleware for routes where one person acts on other people's accounts (the admin console and API):
 * mails they trigger go out in the recipient's stored language, not the admin's. Pages and errors still
 * use the admin's language.
 */
export function onBehalfOfUsers() {
  return function mailsForOthers(_ctx: Context, next: Next) {
    return runWithPatch({ onBehalf: true }, next);
  };
}

/** `fn` as onBehalfOfUsers runs a route (for handlers that are not Koa middleware chains). */
export function runOnBehalfOfUsers<T>(fn: () => T): T {
  return runWithPatch({ onBehalf: true }, fn);
}

/** What a render needs: the locale, its `t`, the translations and the current URL (for the switcher). */
export async function requestI18n(): Promise<{ lang: string; t: Translate; i18n: I18n | undefined; url: string }> {
  const state = localeState();
  if (!state) {
    // Outside a request (unit tests, tools): English from the process's catalogs.
    const i18n = defaultI18n();
    return { lang: DEFAULT_LOCALE, t: i18n.translator(DEFAULT_LOCALE), i18n, url: '/' };
  }
  const lang = await decide(state);
  return { lang, t: state.i18n.translator(lang), i18n: state.i18n, url: state.ctx.originalUrl };
}

/** The request's locale for error messages (AppError#publicMessage); decided when the request began. */
export function currentLocaleSync(): { i18n: I18n; lang: string } | undefined {
  const state = localeState();
  return state ? { i18n: state.i18n, lang: state.locale ?? DEFAULT_LOCALE } : undefined;
}

/** The Koa context of the current request (for response headers set while rendering), if any. */
export function currentContext(): Context | undefined {
  return localeState()?.ctx;
}
