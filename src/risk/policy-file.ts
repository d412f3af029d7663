/**
 * The risk policy file (STEPWISE_POLICY_FILE, YAML, snake_case), validated once at start-up into a RiskPolicy.
 * Every key is optional; an omitted key takes the value documented in policy/default.yaml, which is also the
 * file used when none is configured. Objects are strict: a misspelt key is an error, reported on one line
 * with the file, the line number and the key path, e.g.
 *   STEPWISE_POLICY_FILE: policy.yaml:3: risk_based_prompting.new_device: expected one of ignore|prompt_mfa|require_mfa|deny (got "ask")
 *
 * Durations: `30d`, `24h`, `15m`, `90s`, or a plain number of seconds.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { LineCounter, Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../config/index.js';
import { lazy } from '../lazy.js';
import { PROJECT_ROOT } from '../paths.js';
import type { RiskPolicy } from './types.js';
import { builtInPolicy, fileSchema, toPolicy } from './policy-schema.js';

export { formatDuration, parseCidr, parseDuration } from './policy-schema.js';

/**
 * The shipped policy, used when STEPWISE_POLICY_FILE is unset. Resolved from the package root (where
 * package.json lives), so it is found from src/ under vitest and from dist/src/ once built: the YAML file
 * is not compiled, so it is never under dist/.
 */
export const DEFAULT_POLICY_PATH = resolve(PROJECT_ROOT, 'policy/default.yaml');

const ENV_NAME = 'STEPWISE_POLICY_FILE';

// The YAML parser (~70 modules, ~1.3 MiB of heap for good) is loaded only for a file that is not the shipped
// default word for word (src/lazy.ts).
const yaml = lazy<typeof import('yaml')>('yaml');

/**
 * SHA-256 of policy/default.yaml as shipped. That file states every built-in default (a test checks that it
 * parses to exactly the policy of an empty file, and that this is its hash), so a file with these bytes is
 * the built-in defaults without parsing it. Edited in place, its hash differs and it is parsed as any other.
 */
export const SHIPPED_DEFAULT_POLICY_SHA256 = '961dc5d341d786c57437e479ca2b4064fea736a5beb1a5868293ae87edb8d134';

// ---------------------------------------------------------------------------------------------------------
// Loading and error reporting

/** Reads and validates a policy file; `undefined` → the shipped default (DEFAULT_POLICY_PATH). */
export function loadPolicyFile(path: string | undefined): RiskPolicy {
  const file = path ?? DEFAULT_POLICY_PATH;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${ENV_NAME}: cannot read ${file}: ${(err as Error).message}`);
  }
  if (createHash('sha256').update(text).digest('hex') === SHIPPED_DEFAULT_POLICY_SHA256) return builtInPolicy();
  return parsePolicy(text, file);
}

/**
 * Validates policy text; `source` names the file in errors. An empty document is the default policy.
 * Throws ConfigError (one line: `STEPWISE_POLICY_FILE: <source>:<line>: <key.path>: <problem>`).
 */
export function parsePolicy(text: string, source: string): RiskPolicy {
  const { LineCounter, parseDocument } = yaml();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const syntax = doc.errors[0];
  if (syntax) {
    const pos = syntax.linePos?.[0];
    const what = syntax.message.replace(/ at line \d+, column \d+:[\s\S]*$/, '').replace(/\s+/g, ' ').trim();
    throw new ConfigError(`${ENV_NAME}: ${source}:${pos?.line ?? 1}: YAML syntax error: ${what}${pos ? ` (column ${pos.col})` : ''}`);
  }
  const raw: unknown = doc.contents === null ? {} : doc.toJS({ maxAliasCount: 100 });
  const result = fileSchema.safeParse(raw);
  if (result.success) return toPolicy(result.data);

  // Report the issue that comes first in the file (zod's order follows the schema, not the text).
  const located = result.error.issues.map((issue, i) => {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    const keyPath = issue.code === 'unrecognized_keys' ? [...path, String(issue.keys[0])] : path;
    return { issue, path, keyPath, line: lineOf(doc.contents, lineCounter, keyPath, issue.code === 'unrecognized_keys'), i };
  });
  located.sort((a, b) => a.line - b.line || a.i - b.i);
  const { issue, path, keyPath, line } = located[0]!;
  const message = describe(issue, path, raw);
  throw new ConfigError(`${ENV_NAME}: ${source}:${line}: ${formatPath(keyPath)}: ${message}`);
}

function formatPath(path: readonly (string | number)[]): string {
  if (path.length === 0) return '(root)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** 1-based line of the key (or, for a scalar value, of the value) at `path`; the nearest existing ancestor otherwise. */
function lineOf(root: YamlNode | null, lc: LineCounter, path: readonly (string | number)[], keyOnly: boolean): number {
  const { isMap, isScalar, isSeq } = yaml();
  let node: unknown = root;
  let offset = root?.range?.[0] ?? 0;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      const key = pair.key as YamlNode;
      offset = key.range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as YamlNode | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else {
      break;
    }
    if (!keyOnly && isScalar(node) && node.range) offset = node.range[0];
  }
  return lc.linePos(offset).line;
}

const EXPECTED: Record<string, string> = { object: 'a mapping', array: 'a list', boolean: 'true or false', number: 'a number', int: 'an integer', string: 'a string' };

function describe(issue: z.core.$ZodIssue, path: readonly (string | number)[], raw: unknown): string {
  let text: string;
  switch (issue.code) {
    case 'invalid_value':
      text = `expected one of ${issue.values.map(String).join('|')}`;
      break;
    case 'invalid_type':
      text = `expected ${EXPECTED[issue.expected] ?? issue.expected}`;
      break;
    case 'too_small':
      text = issue.origin === 'array' ? `needs at least ${issue.minimum} entries` : `must be at least ${issue.minimum}`;
      break;
    case 'too_big':
      text = issue.origin === 'array' ? `allows at most ${issue.maximum} entries` : `must be at most ${issue.maximum}`;
      break;
    case 'unrecognized_keys': {
      const known = knownKeys(path);
      const key = String(issue.keys[0]);
      const near = known.find((k) => editDistance(k, key) <= 2);
      return near ? `unknown key (did you mean ${near}?)` : `unknown key (expected one of ${known.join('|')})`;
    }
    default:
      text = issue.message;
  }
  const value = valueAt(raw, path);
  return value === undefined ? text : `${text} (got ${describeValue(value)})`;
}

function valueAt(raw: unknown, path: readonly (string | number)[]): unknown {
  let v = raw;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

function describeValue(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v !== null && typeof v === 'object') return 'a mapping';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** The keys the schema allows for the object at `path`. */
function knownKeys(path: readonly (string | number)[]): string[] {
  let s: z.core.$ZodType | undefined = fileSchema;
  for (const seg of path) {
    s = unwrap(s);
    if (s instanceof z.ZodObject) s = (s.shape as Record<string, z.core.$ZodType>)[String(seg)];
    else if (s instanceof z.ZodArray) s = s.element as z.core.$ZodType;
    else return [];
    if (!s) return [];
  }
  s = unwrap(s);
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

function unwrap(s: z.core.$ZodType): z.core.$ZodType {
  for (;;) {
    const def = s._zod.def as { type: string; innerType?: z.core.$ZodType; in?: z.core.$ZodType };
    if (def.innerType && ['default', 'prefault', 'optional', 'nullable'].includes(def.type)) s = def.innerType;
    else if (def.type === 'pipe' && def.in) s = def.in;
    else return s;
  }
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}
