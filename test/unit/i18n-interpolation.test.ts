/**
 * `t` and `text()` with values fill `{{name}}` placeholders themselves from the entry i18next resolves
 * (issue 15: i18next's own interpolation was ~40 µs a call, a dozen calls per e-mail). The output must be
 * i18next's, for every entry of every shipped catalog; anything unusual goes to i18next.
 */
import { describe, expect, test } from 'vitest';
import { catalogKeys, loadCatalogs } from '../../src/i18n/catalogs.js';
import { fillPlaceholders, I18n } from '../../src/i18n/index.js';

const catalogs = loadCatalogs();
const i18n = new I18n(catalogs);
const PLURAL = /_(zero|one|two|few|many|other)$/;

/** Every key of the English catalog with placeholders, once (plural forms by their base key), and the names. */
function placeholderEntries(): Array<{ key: string; names: string[] }> {
  const en = catalogs.en as { translation: Record<string, unknown>; text: Record<string, string> };
  const seen = new Map<string, string[]>();
  for (const full of catalogKeys(en)) {
    const value = full.startsWith('text:')
      ? en.text[full.slice(5)]
      : full.replace(/^translation:/, '').split('.').reduce<unknown>((node, part) => (node as Record<string, unknown>)?.[part], en.translation);
    if (typeof value !== 'string' || !value.includes('{{')) continue;
    const names = [...value.matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]!);
    seen.set(full.replace(/^translation:/, '').replace(PLURAL, ''), names);
  }
  return [...seen].map(([key, names]) => ({ key, names }));
}

const valuesFor = (names: string[]) => Object.fromEntries(names.map((n) => [n, n === 'count' ? 3 : `Ada & <b>${n}</b> ü`]));
// Naming `lng` is an i18next option, so that call is translated by i18next itself: the reference.
const byI18next = (lang: string, values: Record<string, unknown>) => ({ ...values, lng: lang });

describe('placeholder values', () => {
  const entries = placeholderEntries();

  test('the catalogs have entries with placeholders to check', () => {
    expect(entries.length).toBeGreaterThan(100);
  });

  test.each(Object.keys(catalogs))('%s: every entry comes out as i18next makes it', (lang) => {
    const t = i18n.translator(lang);
    const differing: string[] = [];
    for (const { key, names } of entries) {
      const values = valuesFor(names);
      if (key.startsWith('text:')) {
        const english = key.slice(5);
        const ours = i18n.text(lang, english, values);
        const reference = i18n.text(lang, english, byI18next(lang, values));
        if (ours !== reference) differing.push(`${key}: ${ours} ≠ ${reference}`);
      } else {
        const ours = t(key, values);
        if (ours !== t(key, byI18next(lang, values))) differing.push(`${key}: ${ours}`);
        expect(ours).not.toContain('{{');
      }
    }
    expect(differing).toEqual([]);
  });

  test('a second call with other values gets its own values (the cache holds the entry, not a result)', () => {
    const key = placeholderEntries().find((e) => !e.key.startsWith('text:') && e.names.length > 0 && !e.names.includes('count'))!;
    const t = i18n.translator('en');
    const first = t(key.key, Object.fromEntries(key.names.map((n) => [n, 'first-value'])));
    const second = t(key.key, Object.fromEntries(key.names.map((n) => [n, 'second-value'])));
    expect(first).toContain('first-value');
    expect(second).toContain('second-value');
    expect(second).not.toContain('first-value');
  });

  test('a default other than the key is used as i18next uses it, and is not kept: each call gets its own', () => {
    const t = i18n.translator('en');
    expect(t('no.such.key', { defaultValue: 'first {{x}}', x: 1 })).toBe('first 1');
    expect(t('no.such.key', { defaultValue: 'second {{x}}', x: 2 })).toBe('second 2');
  });

  test('an unknown key with values comes back as the key; text() falls back to its English with values', () => {
    expect(i18n.translator('de')('no.such.key', { name: 'x' })).toBe('no.such.key');
    expect(i18n.text('de', 'Hello {{name}}, not in any catalog', { name: 'Ada' })).toBe('Hello Ada, not in any catalog');
  });
});

describe('fillPlaceholders', () => {
  test('fills string and number values, spaces inside the braces allowed', () => {
    expect(fillPlaceholders('Hi {{name}}, {{ n }} left', { name: 'Ada', n: 2 })).toBe('Hi Ada, 2 left');
  });

  test('leaves to i18next what it does not know', () => {
    expect(fillPlaceholders('Hi {{name}}', {})).toBeUndefined(); // missing value
    expect(fillPlaceholders('Hi {{name}}', { name: { first: 'Ada' } })).toBeUndefined(); // object value
    expect(fillPlaceholders('Hi {{name}}', { name: 'x {{y}}' })).toBeUndefined(); // value with a placeholder
    expect(fillPlaceholders('Hi {{name, uppercase}}', { name: 'Ada' })).toBeUndefined(); // formatting
    expect(fillPlaceholders('Hi {{- name}}', { name: 'Ada' })).toBeUndefined(); // unescaped form
    expect(fillPlaceholders('Hi $t(other.key) {{name}}', { name: 'Ada' })).toBeUndefined(); // nesting
  });

  test('a value is put in once, never read again as a placeholder or a replacement pattern', () => {
    expect(fillPlaceholders('{{a}} and {{b}}', { a: '$& $1 {b}', b: 'B' })).toBe('$& $1 {b} and B');
  });
});
