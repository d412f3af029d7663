/**
 * Which language a page is shown in: the request's ui_locales (OIDC Core §3.1.2.1), then the language the
 * user picked with the switcher (cookie), then Accept-Language, then English. Pure: fed by the request.
 */
export const DEFAULT_LOCALE = 'en';

export interface LocaleSources {
  /** Space-separated BCP 47 tags, preferred first (the authorization request's ui_locales). */
  uiLocales?: string | undefined;
  cookie?: string | undefined;
  acceptLanguage?: string | undefined;
}

/** The supported language for one tag: exact (`de`), or its primary subtag (`de-CH` → `de`). */
export function matchTag(tag: string, supported: readonly string[]): string | undefined {
  const t = tag.trim().toLowerCase();
  if (!/^[a-z]{1,8}(-[a-z0-9]{1,8})*$/.test(t)) return undefined;
  const exact = supported.find((s) => s.toLowerCase() === t);
  if (exact) return exact;
  const primary = t.split('-')[0]!;
  return supported.find((s) => s.toLowerCase() === primary);
}

/** Accept-Language tags ordered by q (stable for equal q), without q=0 and `*`. */
export function parseAcceptLanguage(header: string): string[] {
  return header
    .split(',')
    .slice(0, 32)
    .map((part, index) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      const weight = q ? Number(q.slice(2)) : 1;
      return { tag: tag.trim(), q: Number.isFinite(weight) ? weight : 0, index };
    })
    .filter((x) => x.tag && x.tag !== '*' && x.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index)
    .map((x) => x.tag);
}

function firstMatch(tags: string[], supported: readonly string[]): string | undefined {
  for (const tag of tags) {
    const m = matchTag(tag, supported);
    if (m) return m;
  }
  return undefined;
}

/** The language the request asks for (ui_locales, cookie, Accept-Language), or undefined when none is supported. */
export function preferredLocale(sources: LocaleSources, supported: readonly string[]): string | undefined {
  const ui = sources.uiLocales ? firstMatch(sources.uiLocales.split(/\s+/).slice(0, 16), supported) : undefined;
  if (ui) return ui;
  const picked = sources.cookie ? matchTag(sources.cookie, supported) : undefined;
  if (picked) return picked;
  return sources.acceptLanguage ? firstMatch(parseAcceptLanguage(sources.acceptLanguage), supported) : undefined;
}

export function negotiateLocale(sources: LocaleSources, supported: readonly string[]): string {
  return preferredLocale(sources, supported) ?? (supported.includes(DEFAULT_LOCALE) ? DEFAULT_LOCALE : supported[0] ?? DEFAULT_LOCALE);
}
