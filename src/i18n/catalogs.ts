/**
 * Message catalogs: the shipped ones (locales/<lang>.json) with an operator's directory merged over them
 * (STEPWISE_LOCALES_DIR): a file there overrides single messages of a shipped language or adds a language.
 * A catalog file holds i18next namespaces: `translation` (keyed by dotted ids) and `text` (keyed by the
 * English sentence itself: page titles and error details that code passes in English).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { PROJECT_ROOT } from '../paths.js';

export const SHIPPED_LOCALES_DIR = resolve(PROJECT_ROOT, 'locales');

export type Catalog = Record<string, unknown>;
export type Catalogs = Record<string, Catalog>;

const LANG_FILE = /^([a-z]{2,3}(-[A-Za-z0-9]{2,8})?)\.json$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge: `over` wins on leaves; objects merge. */
export function mergeCatalog(base: Catalog, over: Catalog): Catalog {
  const out: Catalog = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObject(v) && isObject(out[k]) ? mergeCatalog(out[k] as Catalog, v) : v;
  return out;
}

export function readCatalogDir(dir: string): Catalogs {
  const out: Catalogs = {};
  for (const file of readdirSync(dir).sort()) {
    const m = LANG_FILE.exec(file);
    if (!m) continue;
    const path = resolve(dir, file);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new Error(`${path}: not valid JSON (${(err as Error).message})`);
    }
    if (!isObject(parsed)) throw new Error(`${path}: a catalog is a JSON object of namespaces ({"translation": {…}, "text": {…}})`);
    out[basename(file, '.json')] = parsed;
  }
  return out;
}

/** Shipped catalogs, with `overrideDir` merged over them when given. */
export function loadCatalogs(overrideDir?: string): Catalogs {
  const catalogs = readCatalogDir(SHIPPED_LOCALES_DIR);
  if (!overrideDir) return catalogs;
  if (!existsSync(overrideDir)) throw new Error(`STEPWISE_LOCALES_DIR: ${overrideDir} does not exist`);
  for (const [lang, over] of Object.entries(readCatalogDir(overrideDir))) catalogs[lang] = mergeCatalog(catalogs[lang] ?? {}, over);
  return catalogs;
}

/** Every leaf key of a catalog as `namespace:dotted.path` (the `text` namespace is not nested). */
export function catalogKeys(catalog: Catalog): string[] {
  const keys: string[] = [];
  for (const [ns, tree] of Object.entries(catalog)) {
    if (!isObject(tree)) continue;
    if (ns === 'text') {
      keys.push(...Object.keys(tree).map((k) => `text:${k}`));
      continue;
    }
    const walk = (node: Record<string, unknown>, prefix: string) => {
      for (const [k, v] of Object.entries(node)) {
        if (isObject(v)) walk(v, `${prefix}${k}.`);
        else keys.push(`${ns}:${prefix}${k}`);
      }
    };
    walk(tree, '');
  }
  return keys;
}
