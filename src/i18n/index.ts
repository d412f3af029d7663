/**
 * The application's translations (i18next, one instance per app). `translator(locale)` gives a `t` for
 * pages, errors, SMS texts and e-mails; unknown locales fall back to English, and so do messages a
 * catalog lacks.
 */
import i18next, { type i18n as I18nextInstance, type TOptions } from 'i18next';
import type { Context } from 'koa';
import { loadCatalogs, type Catalogs } from './catalogs.js';
import { BoundedCache } from '../bounded-cache.js';
import { DEFAULT_LOCALE, matchTag, negotiateLocale, preferredLocale, type LocaleSources } from './negotiate.js';

export { DEFAULT_LOCALE };

export type Translate = (key: string, options?: TOptions & Record<string, unknown>) => string;

/** Native names for the language switcher (operators adding a language may set `translation:language.name`). */
export class I18n {
  readonly supported: string[];
  private readonly instance: I18nextInstance;
  /** Per language: its `t`, and the `text()` sentences asked without values. */
  private readonly languages = new Map<string, { t: Translate; plainText: BoundedCache<string, string> }>();
  private readonly pickListeners: Array<(ctx: Context, locale: string) => Promise<void>> = [];

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

  /** The supported language the sources ask for, or undefined (no preference: the caller's fallback applies). */
  preferred(sources: LocaleSources): string | undefined {
    return preferredLocale(sources, this.supported);
  }

  /** The first of `tags` that is supported (exactly or by primary subtag), or undefined. */
  firstSupported(...tags: Array<string | null | undefined>): string | undefined {
    for (const tag of tags) {
      const m = tag ? matchTag(tag, this.supported) : undefined;
      if (m) return m;
    }
    return undefined;
  }

  translator(locale: string | undefined): Translate {
    return this.language(locale).t;
  }

  /** A sentence keyed by its English text (namespace `text`): titles and error details; English if untranslated. */
  text(locale: string | undefined, english: string, options?: Record<string, unknown>): string {
    const { t, plainText } = this.language(locale);
    const lookup = () => t(english, { ns: 'text', keySeparator: false, nsSeparator: false, defaultValue: english, ...options });
    return options === undefined ? plainText.getOrSet(english, lookup) : lookup();
  }

  /**
   * A page asks for dozens of plain keys and sentences per render; catalogs are fixed once loaded, so a key or a
   * sentence without values is looked up once per language (with options — plurals, values — never cached).
   */
  private language(locale: string | undefined) {
    const lang = this.resolve(locale);
    let entry = this.languages.get(lang);
    if (!entry) {
      const base = this.instance.getFixedT(lang);
      const plain = new BoundedCache<string, string>(5000);
      // null: an entry this path cannot fill (nesting, formats): i18next translates it every time.
      const templates = new BoundedCache<string, string | null>(5000);
      const t: Translate = (key, options) => {
        if (options === undefined) return plain.getOrSet(key, () => String(base(key)));
        const lookup = lookupOptions(options);
        // A default other than the key itself may be anything a caller has (a risk detail): never kept.
        if (lookup && (lookup.defaultValue === undefined || lookup.defaultValue === key)) {
          // The entry as i18next resolves it (namespace, fallback language, default), uninterpolated: no values in the cache.
          const template = templates.getOrSet(templateKey(key, lookup), () => fillable(String(base(key, { ...lookup, skipInterpolation: true } as TOptions))));
          const filled = template === null ? undefined : fillValues(template, options);
          if (filled !== undefined) return filled;
        }
        return String(base(key, options as TOptions));
      };
      entry = { t, plainText: new BoundedCache<string, string>(5000) };
      this.languages.set(lang, entry);
    }
    return entry;
  }

  /**
   * A sentence the code built in English, in `locale`: its `text` entry; else, when it matches a `text` entry
   * with placeholders (`"That code is not valid. {{count}} tries left for this code."`, matched against the
   * English catalog's forms of it), that entry with the values put back — `count` as a number (plurals),
   * other values translated as sentences themselves. English, and sentences no entry covers, come back as
   * they are.
   */
  sentence(locale: string | undefined, english: string): string {
    const lang = this.resolve(locale);
    if (lang === DEFAULT_LOCALE) return english;
    if (this.englishText().has(english)) return this.text(lang, english);
    for (const template of this.sentenceTemplates()) {
      const found = matchTemplate(template.parts, english);
      if (!found) continue;
      const values: Record<string, unknown> = {};
      for (const [name, value] of Object.entries(found)) values[name] = name === 'count' ? Number(value) : this.sentence(lang, value);
      return this.text(lang, template.key, values);
    }
    return english;
  }

  private enText?: Set<string>;
  private templates?: Array<{ key: string; parts: string[] }>;

  private englishText(): Set<string> {
    this.enText ??= new Set(Object.keys((this.catalogs[DEFAULT_LOCALE]?.text ?? {}) as Record<string, unknown>));
    return this.enText;
  }

  /** The English `text` entries with placeholders, each form split into literal / name / literal / … parts. */
  private sentenceTemplates(): Array<{ key: string; parts: string[] }> {
    this.templates ??= Object.entries((this.catalogs[DEFAULT_LOCALE]?.text ?? {}) as Record<string, unknown>)
      .filter((entry): entry is [string, string] => entry[0].includes('{{') && typeof entry[1] === 'string')
      .map(([key, value]) => ({ key: key.replace(/_(zero|one|two|few|many|other)$/, ''), parts: value.split(/\{\{(\w+)\}\}/) }));
    return this.templates;
  }

  exists(locale: string, key: string): boolean {
    return this.instance.exists(key, { lng: this.resolve(locale), fallbackLng: false } as TOptions);
  }

  /** Called when someone picks a supported language with the switcher (the container remembers it for a signed-in user). */
  onLocalePicked(listener: (ctx: Context, locale: string) => Promise<void>): void {
    this.pickListeners.push(listener);
  }

  /** The switcher (GET /lang/:code) picked `locale`; listeners' failures never break the switch. */
  async picked(ctx: Context, locale: string): Promise<void> {
    for (const listener of this.pickListeners) await listener(ctx, locale).catch(() => undefined);
  }

  /** The language's own name ("Deutsch"), for the switcher. */
  languageName(locale: string): string {
    return this.translator(locale)('language.name');
  }
}

/** The options text() and the pages pass to choose an entry; any other i18next option takes i18next's own path. */
const LOOKUP_OPTIONS = new Set(['ns', 'keySeparator', 'nsSeparator', 'defaultValue']);
/**
 * i18next's options (plurals, context, languages, formatting, nesting, …): a call that names one of these is
 * translated by i18next itself. Everything else in the options is a placeholder value.
 */
const I18NEXT_OPTIONS = new Set([
  'count', 'context', 'ordinal', 'lng', 'lngs', 'fallbackLng', 'returnObjects', 'returnDetails', 'joinArrays', 'postProcess',
  'interpolation', 'replace', 'skipInterpolation', 'nest', 'defaultVariables', 'formatParams', 'keyPrefix',
]);
const PLACEHOLDER = /\{\{\s*(\w+)\s*\}\}/g;

/** The lookup options of a call whose other options are all plain values; undefined when i18next must translate it. */
function lookupOptions(options: Record<string, unknown>): Record<string, unknown> | undefined {
  const lookup: Record<string, unknown> = {};
  for (const name in options) {
    if (LOOKUP_OPTIONS.has(name)) lookup[name] = options[name];
    else if (I18NEXT_OPTIONS.has(name) || name.startsWith('defaultValue_')) return undefined;
  }
  return lookup;
}

function templateKey(key: string, lookup: Record<string, unknown>): string {
  const flag = (v: unknown) => (v === false ? '0' : v === undefined ? '' : String(v));
  return [key, flag(lookup.ns), flag(lookup.keySeparator), flag(lookup.nsSeparator), flag(lookup.defaultValue)].join('\u0000');
}

/**
 * Puts string and number values into a template's `{{name}}` placeholders, as i18next does with escapeValue off
 * and skipOnVariables on (values are not interpolated again). Undefined — i18next's own path — when the template
 * nests (`$t(`) or has another placeholder form, or a value is missing, of another type, or looks like markup
 * i18next would treat specially.
 */
export function fillPlaceholders(template: string, values: Record<string, unknown>): string | undefined {
  return fillable(template) === null ? undefined : fillValues(template, values);
}

/** The template, or null when it nests (`$t(`) or has a placeholder form other than `{{name}}` (formats, `{{- x}}`). */
function fillable(template: string): string | null {
  return template.includes('$t(') || template.replace(PLACEHOLDER, '').includes('{{') ? null : template;
}

/** A fillable template with its values put in; undefined when a value is missing or not plainly a string or number. */
function fillValues(template: string, values: Record<string, unknown>): string | undefined {
  let simple = true;
  const filled = template.replace(PLACEHOLDER, (_match, name: string) => {
    const value = values[name];
    if (typeof value === 'number') return String(value);
    if (typeof value === 'string' && !value.includes('{{') && !value.includes('$t(')) return value;
    simple = false;
    return '';
  });
  return simple ? filled : undefined;
}

/**
 * Matches `text` against a template split as [literal, name, literal, name, …, literal]: each value runs to
 * the next literal's first occurrence (the last literal must end the text), so matching is linear — no
 * backtracking on long or hostile input. A `count` must be digits. The values by name, or null.
 */
function matchTemplate(parts: string[], text: string): Record<string, string> | null {
  if (!text.startsWith(parts[0]!)) return null;
  const values: Record<string, string> = {};
  let pos = parts[0]!.length;
  for (let i = 1; i < parts.length; i += 2) {
    const name = parts[i]!;
    const literal = parts[i + 1]!;
    const last = i + 2 >= parts.length;
    const end = last ? (text.endsWith(literal) ? text.length - literal.length : -1) : literal === '' ? -1 : text.indexOf(literal, pos + 1);
    if (end <= pos) return null;
    const value = text.slice(pos, end);
    if (name === 'count' && !/^\d{1,9}$/.test(value)) return null;
    values[name] = value;
    pos = end + literal.length;
  }
  return values;
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
