/**
 * Message catalogs and locale choice (issue 13): English, German and French complete (a key missing in any
 * catalog fails here), every key the views and code use exists in English, every error code has a
 * message, and the locale order ui_locales > cookie > Accept-Language with English as the fallback.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { catalogKeys, loadCatalogs, SHIPPED_LOCALES_DIR } from '../../src/i18n/catalogs.js';
import { I18n } from '../../src/i18n/index.js';
import { negotiateLocale, parseAcceptLanguage } from '../../src/i18n/negotiate.js';
import { ERRORS } from '../../src/errors/index.js';
import { FACTOR_KINDS } from '../../src/factors/registry.js';
import { PROJECT_ROOT } from '../../src/paths.js';

const catalogs = loadCatalogs();
const PLURAL = /_(zero|one|two|few|many|other)$/;
const baseKeys = (lang: string) => new Set(catalogKeys(catalogs[lang]!).map((k) => k.replace(PLURAL, '')));

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p, ext) : ext.test(f) ? [p] : [];
  });
}

describe('catalogs', () => {
  test('ships English, German and French', () => {
    expect(Object.keys(catalogs).sort()).toEqual(expect.arrayContaining(['de', 'en', 'fr']));
    expect(SHIPPED_LOCALES_DIR).toBe(resolve(PROJECT_ROOT, 'locales'));
  });

  test.each(Object.keys(catalogs).filter((l) => l !== 'en'))('%s has exactly the English keys', (lang) => {
    const en = baseKeys('en');
    const other = baseKeys(lang);
    expect([...en].filter((k) => !other.has(k)), `missing in ${lang}`).toEqual([]);
    expect([...other].filter((k) => !en.has(k)), `only in ${lang}`).toEqual([]);
  });

  test('plural keys carry every form the language needs', () => {
    for (const [lang, catalog] of Object.entries(catalogs)) {
      const keys = catalogKeys(catalog);
      // i18next falls back to _other for a missing form; one and other must exist where the language has them.
      const forms = new Intl.PluralRules(lang).resolvedOptions().pluralCategories.filter((f) => f === 'one' || f === 'other');
      for (const k of keys.filter((x) => PLURAL.test(x))) {
        for (const form of forms) expect(keys, `${lang} ${k}`).toContain(k.replace(PLURAL, `_${form}`));
      }
    }
  });

  test('every t() key used in views and code exists in English', () => {
    const en = baseKeys('en');
    const used = new Set<string>();
    const sources = [...files(resolve(PROJECT_ROOT, 'views'), /\.ejs$/), ...files(resolve(PROJECT_ROOT, 'src'), /\.ts$/)];
    for (const file of sources) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/\bt\('([a-zA-Z][\w-]*(?:\.[\w-]+)+)'/g)) used.add(m[1]!);
      for (const m of text.matchAll(/\b(?:intro|prompt): '([a-zA-Z]+\.[\w.]+)'/g)) used.add(m[1]!);
    }
    expect(used.size).toBeGreaterThan(100);
    const missing = [...used].filter((k) => !en.has(`translation:${k}`));
    expect(missing).toEqual([]);
    // Keys built at render time: factor labels and scope labels.
    for (const kind of [...FACTOR_KINDS, 'password']) expect(en.has(`translation:factor.${kind}`), kind).toBe(true);
    for (const scope of ['openid', 'email', 'profile', 'offline_access']) expect(en.has(`translation:consent.scope.${scope}`)).toBe(true);
  });

  test('every error code has a message in every language, and the English one matches src/errors', () => {
    const en = catalogs.en!.translation as { errors: Record<string, string> };
    for (const [code, { message }] of Object.entries(ERRORS)) {
      expect(en.errors[code], code).toBe(message);
      for (const lang of Object.keys(catalogs)) expect(baseKeys(lang).has(`translation:errors.${code}`), `${lang} errors.${code}`).toBe(true);
    }
  });

  test("every tx('English sentence') in the views is in the text catalog", () => {
    const en = new Set(Object.keys(catalogs.en!.text as Record<string, string>));
    const used = new Set<string>();
    for (const file of files(resolve(PROJECT_ROOT, 'views'), /\.ejs$/)) {
      for (const m of readFileSync(file, 'utf8').matchAll(/\btx\('((?:[^'\\]|\\.)+)'/g)) used.add(m[1]!.replace(/\\'/g, "'"));
    }
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((s) => !en.has(s))).toEqual([]);
  });

  test('page titles passed by code are in the text catalog', () => {
    const en = new Set(Object.keys(catalogs.en!.text as Record<string, string>));
    const titles = new Set<string>();
    for (const file of files(resolve(PROJECT_ROOT, 'src'), /\.ts$/)) {
      for (const m of readFileSync(file, 'utf8').matchAll(/\btitle: '([^']+)'/g)) titles.add(m[1]!);
    }
    const hosted = [...titles].filter((t) => !/^(Development outbox|Demo application|Stepwise)$/.test(t) && !/admin/i.test(t));
    expect(hosted.filter((t) => !en.has(t))).toEqual([]);
  });
  test('every detail the admin services and admin recovery throw (AppError) has a text entry', () => {
    // An entry matches a thrown literal with its placeholders in the same places (`${id}` ~ `{{id}}`).
    const shape = (s: string) => s.replace(/\{\{\w*\}\}/g, '{}').replace(/(\{\})+/g, '{}');
    const entries = new Set(Object.entries(catalogs.en!.text as Record<string, string>).map(([k, v]) => shape(PLURAL.test(k) ? v : k)));
    const dir = resolve(PROJECT_ROOT, 'src/admin');
    const sources = [...readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'cli.ts').map((f) => join(dir, f)), resolve(PROJECT_ROOT, 'src/recovery/service.ts')];
    const thrown: string[] = [];
    for (const file of sources) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/new AppError\(\s*'(\w+)',\s*(['`])/g)) {
        if (m[1] === 'internal') continue;
        thrown.push(shape(literalAt(text, m.index! + m[0].length - 1)));
      }
    }
    expect(thrown.length).toBeGreaterThan(40);
    // Built from parts that have entries of their own: `${where}: unknown field` / a zod message.
    const composed = new Set(['{}: {}']);
    expect(thrown.filter((t) => !entries.has(t) && !composed.has(t))).toEqual([]);
  });
});

/** The string literal starting at `start` ('…' or `…`), with each `${…}` (nested literals included) as `{{}}`. */
function literalAt(src: string, start: number): string {
  const quote = src[start]!;
  let out = '';
  for (let i = start + 1; i < src.length; i++) {
    const ch = src[i]!;
    if (ch === '\\') {
      out += src[++i];
      continue;
    }
    if (ch === quote) return out;
    if (quote === '`' && ch === '$' && src[i + 1] === '{') {
      let depth = 0;
      for (i += 1; i < src.length; i++) {
        if (src[i] === '`') i = skipTemplate(src, i);
        else if (src[i] === '{') depth++;
        else if (src[i] === '}' && --depth === 0) break;
      }
      out += '{{}}';
      continue;
    }
    out += ch;
  }
  throw new Error(`unterminated literal at ${start}`);
}

/** The index of the backtick closing the template literal opened at `start`. */
function skipTemplate(src: string, start: number): number {
  for (let i = start + 1; i < src.length; i++) {
    if (src[i] === '\\') i++;
    else if (src[i] === '`') return i;
    else if (src[i] === '$' && src[i + 1] === '{') {
      let depth = 0;
      for (i += 1; i < src.length; i++) {
        if (src[i] === '`') i = skipTemplate(src, i);
        else if (src[i] === '{') depth++;
        else if (src[i] === '}' && --depth === 0) break;
      }
    }
  }
  return src.length;
}



describe('translation', () => {
  const i18n = new I18n(catalogs);

  test('interpolation is not escaped (EJS escapes) and plurals follow the language', () => {
    expect(i18n.translator('en')('denied.return', { name: '<b>&' })).toBe('Return to <b>&');
    expect(i18n.translator('de')('factors.rememberDevice', { count: 1 })).toBe('Dieses Gerät 1 Tag lang merken');
    expect(i18n.translator('de')('factors.rememberDevice', { count: 30 })).toBe('Dieses Gerät 30 Tage lang merken');
    expect(i18n.translator('fr')('factors.rememberDevice', { count: 2 })).toMatch(/2 jours$/);
  });

  test('a sentence asked again is the same, each language its own, and values still go in', () => {
    const fresh = new I18n(catalogs);
    for (let i = 0; i < 3; i++) {
      expect(fresh.text('de', 'Sign in')).toBe('Anmelden');
      expect(fresh.text('en', 'Sign in')).toBe('Sign in');
      expect(fresh.text('de-AT', 'Sign in')).toBe('Anmelden');
      expect(fresh.text('fr', 'A sentence nobody translated.')).toBe('A sentence nobody translated.');
    }
    const withCount = Object.keys((catalogs.en!.text ?? {}) as Record<string, unknown>).find((k) => k.includes('{{count}}'));
    expect(withCount).toBeDefined();
    const key = withCount!.replace(/_(zero|one|two|few|many|other)$/, '');
    expect(fresh.text('en', key, { count: 7 })).toContain('7');
    expect(fresh.text('en', key, { count: 9 })).toContain('9');
  });

  test('unknown locales and missing keys fall back to English', () => {
    expect(i18n.resolve('xx')).toBe('en');
    expect(i18n.translator('xx-YY')('login.heading')).toBe('Sign in');
    expect(i18n.text('de', 'A sentence nobody translated.')).toBe('A sentence nobody translated.');
    expect(i18n.text('de', 'Sign in')).toBe('Anmelden');
  });

  test('sentences built in English with numbers or parts match the text entries with placeholders', () => {
    expect(i18n.sentence('de', 'That code is not valid. 1 try left for this code.')).toBe('Dieser Code ist nicht gültig. Für diesen Code bleibt noch 1 Versuch.');
    expect(i18n.sentence('fr', 'That code is not valid. 3 tries left for this code.')).toBe("Ce code n'est pas valide. Il reste 3 essais pour ce code.");
    expect(i18n.sentence('de', 'That is a landline, which cannot receive text messages. Enter a mobile number.')).toBe('Das ist eine Festnetznummer, die keine SMS empfangen kann. Geben Sie eine Mobilnummer ein.');
    expect(i18n.sentence('fr', 'Use digits only. Enter the number in international format: + then the country code and the number, e.g. +14155550123.')).toMatch(/^Utilisez uniquement des chiffres\. Saisissez le numéro au format international/);
    expect(i18n.sentence('de', 'Too many codes were sent to this number. Try again in 42 minutes, or use another sign-in method.')).toBe(
      'Es wurden zu viele Codes an diese Nummer gesendet. Versuchen Sie es in 42 Minuten erneut oder verwenden Sie eine andere Anmeldemethode.',
    );
    expect(i18n.sentence('fr', 'Too many attempts. Try again in 1 second.')).toBe('Trop de tentatives. Réessayez dans 1 seconde.');
    expect(i18n.sentence('en', 'That code is not valid. 1 try left for this code.')).toBe('That code is not valid. 1 try left for this code.');
    expect(i18n.sentence('de', 'Sign in')).toBe('Anmelden');
    expect(i18n.sentence('de', 'A push was denied on your phone, so push requests are paused for 1 more minute (until 10:15 UTC). Use another method below.')).toBe(
      'Eine Push-Anfrage wurde auf Ihrem Telefon abgelehnt, daher sind Push-Anfragen noch 1 Minute pausiert (bis 10:15 UTC). Verwenden Sie unten eine andere Methode.',
    );
    expect(i18n.sentence('de', 'A sentence nobody translated, 3 times.')).toBe('A sentence nobody translated, 3 times.');
    // Admin services' details (src/admin, src/recovery): values that are sentences themselves are translated too.
    expect(i18n.sentence('de', 'approval ab12 is already approved (by admin@example.com)')).toBe('Freigabe ab12 ist bereits genehmigt (von admin@example.com)');
    expect(i18n.sentence('fr', 'approval ab12 is already rejected')).toBe("l'approbation ab12 est déjà rejetée");
    expect(i18n.sentence('de', 'no user with email a@example.com')).toBe('kein Benutzer mit der E-Mail-Adresse a@example.com');
    expect(i18n.sentence('fr', 'This recovery is cancelled; only a pending recovery can be cancelled.')).toBe('Cette récupération est annulée ; seule une récupération en attente peut être annulée.');
    expect(
      i18n.sentence('de', 'this policy would lock everyone out: min_acr phr cannot be reached with the allowed factors (password, totp); phr needs 2 factors of different kinds, one of them phishing-resistant (webauthn). Allow such a factor or lower min_acr.'),
    ).toBe('Diese Richtlinie würde alle aussperren: min_acr phr ist mit den erlaubten Faktoren (password, totp) nicht erreichbar; phr braucht 2 Faktoren verschiedener Art, davon einen phishing-resistenten (webauthn). Erlauben Sie einen solchen Faktor oder senken Sie min_acr.');
    // Linear matching: a long hostile sentence (query strings reach this) is answered at once, untranslated.
    const hostile = `lower the minimum level of ${' from ( ) to ('.repeat(2000)}`;
    const started = performance.now();
    expect(i18n.sentence('fr', hostile)).toBe(hostile);
    expect(performance.now() - started).toBeLessThan(200);
  });
});

describe('negotiateLocale', () => {
  const supported = ['en', 'de', 'fr'];
  test('ui_locales first (first supported tag), then the cookie, then Accept-Language', () => {
    expect(negotiateLocale({ uiLocales: 'es fr-CA de', cookie: 'de', acceptLanguage: 'de' }, supported)).toBe('fr');
    expect(negotiateLocale({ uiLocales: 'es', cookie: 'de', acceptLanguage: 'fr' }, supported)).toBe('de');
    expect(negotiateLocale({ cookie: 'nope', acceptLanguage: 'es;q=1, fr;q=0.8, de;q=0.9' }, supported)).toBe('de');
    expect(negotiateLocale({ acceptLanguage: '*, es' }, supported)).toBe('en');
    expect(negotiateLocale({ uiLocales: '../../etc <script>', acceptLanguage: 'de;q=0, fr;q=0' }, supported)).toBe('en');
  });
  test('parseAcceptLanguage orders by q, keeps ties stable, drops q=0 and *', () => {
    expect(parseAcceptLanguage('fr;q=0.5, de, en-GB;q=0.5, *;q=0.1, it;q=0')).toEqual(['de', 'fr', 'en-GB']);
  });
});
