/**
 * The application's translations (i18next, one instance per app). `translator(locale)` gives a `t` for
 * pages, errors, SMS texts and e-mails; unknown locales fall back to English, and so do messages a
 * catalog lacks.
 */
import i18next, { type i18n as I18nextInstance, type TOptions } from 'i18next';
import { loadCatalogs, type Catalogs } from './catalogs.js';
import { DEFAULT_LOCALE, matchTag, negotiateLocale, type LocaleSources } from './negotiate.js';

export { DEFAULT_LOCALE };

export type Translate = (key: string, options?: TOptions & Record<string, unknown>) => string;

/** Native names for the language switcher (operators adding a language may set `translation:language.name`). */
export class I18n {
  readonly supported: string[];
  private readonly instance: I18nextInstance;
  private readonly fixed = new Map<string, Translate>();

  constructor(readonly catalogs: Catalogs) {
    this.supported = Object.keys(catalogs).sort((a, b) => (a === DEFAULT_LOCALE ? -1 : b === DEFAULT_LOCALE ? 1 : a.localeCompare(b)));
    this.instance = i18next.createInstance();
    void this.instance.init({
      resources: catalogs as never,
      lng: DEFAULT_LOCALE,
      fallbackLng: DEFAULT_LOCALE,
      supportedLngs: this.supported,
      ns: ['translation', 'text'],
      defaultNS: 'translation',
      // EJS escapes on output (<%= %>); escaping here too would show &amp; to users.
      interpolation: { escapeValue: false },
      returnNull: false,
      initAsync: false,
    });
  }

  /** The supported locale for a tag, or English. */
  resolve(tag: string | undefined): string {
    return (tag && matchTag(tag, this.supported)) || DEFAULT_LOCALE;
  }

  negotiate(sources: LocaleSources): string {
    return negotiateLocale(sources, this.supported);
  }

  translator(locale: string | undefined): Translate {
    const lang = this.resolve(locale);
    let t = this.fixed.get(lang);
    if (!t) {
      const base = this.instance.getFixedT(lang);
      t = (key, options) => String(base(key, options as TOptions));
      this.fixed.set(lang, t);
    }
    return t;
  }

  /** A sentence keyed by its English text (namespace `text`): titles and error details; English if untranslated. */
  text(locale: string | undefined, english: string, options?: Record<string, unknown>): string {
    return this.translator(locale)(english, { ns: 'text', keySeparator: false, nsSeparator: false, defaultValue: english, ...options });
  }

  exists(locale: string, key: string): boolean {
    return this.instance.exists(key, { lng: this.resolve(locale), fallbackLng: false } as TOptions);
  }

  /** The language's own name ("Deutsch"), for the switcher. */
  languageName(locale: string): string {
    return this.translator(locale)('language.name');
  }
}

let current: I18n | undefined;

/** Builds the app's translations (shipped catalogs + STEPWISE_LOCALES_DIR) and makes them the process default. */
export function createI18n(localesDir?: string): I18n {
  current = new I18n(loadCatalogs(localesDir));
  return current;
}

/** The process's translations (the last app built, else the shipped catalogs). */
export function defaultI18n(): I18n {
  current ??= new I18n(loadCatalogs());
  return current;
}

/** A `t` for code without a request (SMS texts, e-mails): `translator(user.locale)('sms.code', { code })`. */
export function translator(locale: string | undefined): Translate {
  return defaultI18n().translator(locale);
}
