/**
 * Fuzzing kit (issue 14): fast-check arbitraries for hostile HTTP input, a raw request that keeps a
 * FakeBrowser's cookies without taking new ones, the "clean rejection" check (never a 5xx, never a stack
 * trace or a driver message), and a snapshot of the durable tables to prove a rejected request wrote nothing.
 *
 * Runs are bounded for CI; FUZZ_RUNS=<n> multiplies them for a deep local run, FUZZ_SEED=<n> replays one.
 */
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { expect } from 'vitest';
import type { FakeBrowser } from './browser.js';
import type { TestServer } from './server.js';

/** Scale factor for every property's numRuns (FUZZ_RUNS=10 → ten times as many inputs). */
export const FUZZ_SCALE = Math.max(1, Number(process.env.FUZZ_RUNS) || 1);
export const FUZZ_SEED = Number(process.env.FUZZ_SEED) || 14_2026;

/** Per-test timeout for a property test, scaled with FUZZ_RUNS. */
export const FUZZ_TIMEOUT = 60_000 * FUZZ_SCALE;

/** fc.assert options: `runs` CI runs (times FUZZ_RUNS), a fixed seed; fast-check prints seed and counterexample on failure. */
export const runs = (n: number): fc.Parameters<unknown> => ({ numRuns: Math.ceil(n * FUZZ_SCALE), seed: FUZZ_SEED, endOnFailure: true });

const NASTY = [
  '',
  ' ',
  '\u0000',
  '\r\n',
  '%00',
  '%',
  '%zz',
  '../../etc/passwd',
  '<script>alert(1)</script>',
  "' OR 1=1 --",
  '"; drop table users; --',
  '__proto__',
  'constructor',
  'toString',
  'null',
  'undefined',
  'NaN',
  'Infinity',
  '-1',
  '0',
  '1e309',
  '9007199254740993',
  'true',
  '[]',
  '{}',
  '{"a":',
  '[[[[[[[[[[',
  'openid',
  'S256',
  'plain',
  'code',
  'none',
  'login consent',
  'http://evil.example/cb',
  'javascript:alert(1)',
  'data:text/html,x',
  '\u202e\u0301\ufeff',
  '😀'.repeat(20),
  '\ud800',
];

/** One hostile string: unicode (incl. lone surrogates), control characters, long, or a known-nasty value. */
export const junk: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.integer({ min: 0, max: 31 }).map((c) => String.fromCharCode(c)), maxLength: 20 }) },
  { weight: 1, arbitrary: fc.integer().map(String) },
  { weight: 1, arbitrary: fc.double().map(String) },
  { weight: 1, arbitrary: fc.string({ minLength: 2000, maxLength: 6000 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null') },
);

/** A header value made of a junk string: its UTF-8 bytes as Latin-1, without the control characters HTTP forbids. */
export const asHeader = (s: string): string =>
  Buffer.from(s)
    .toString('latin1')
    .replace(/[\x00-\x08\x0a-\x1f\x7f]/g, '')
    .trim();

/** encodeURIComponent that never throws (lone surrogates become U+FFFD, as a browser sends them). */
export const encodePart = (s: string): string => new URLSearchParams({ x: s }).toString().slice(2);

/** A form/query value: usually one string, sometimes the parameter repeated (→ an array on the server). */
export const paramValue: fc.Arbitrary<string | string[]> = fc.oneof(
  { weight: 4, arbitrary: junk },
  { weight: 1, arbitrary: fc.array(junk, { minLength: 2, maxLength: 4 }) },
);

/** A JSON value where the server expects a string: anything JSON can say, nested. */
export const jsonJunk: fc.Arbitrary<unknown> = fc.oneof(
  junk,
  fc.jsonValue({ maxDepth: 4 }),
  fc.array(junk, { maxLength: 5 }),
  fc.constant({ __proto__: { admin: true } }),
  fc.dictionary(junk, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }),
);

/** A form of the given fields, each absent, junk or (where given) its real value. */
export function formOf(fields: Record<string, string | undefined>): fc.Arbitrary<Record<string, string | string[]>> {
  const entries = Object.entries(fields).map(([name, real]) => {
    const choices: fc.Arbitrary<string | string[] | undefined>[] = [fc.constant(undefined), paramValue];
    if (real !== undefined) choices.push(fc.constant(real), fc.constant(real));
    return fc.oneof(...choices).map((v) => [name, v] as const);
  });
  return fc.tuple(...entries, fc.dictionary(junk, paramValue, { maxKeys: 2 })).map((parts) => {
    const extra = parts.pop() as Record<string, string | string[]>;
    const out: Record<string, string | string[]> = { ...extra };
    for (const [name, v] of parts as (readonly [string, string | string[] | undefined])[]) if (v !== undefined) out[name] = v;
    return out;
  });
}

/** A JSON object of the given fields, each absent, any JSON value, or its real value. */
export function jsonOf(fields: Record<string, unknown>): fc.Arbitrary<Record<string, unknown>> {
  const entries = Object.entries(fields).map(([name, real]) =>
    fc.oneof(fc.constant(undefined), jsonJunk, ...(real !== undefined ? [fc.constant(real)] : [])).map((v) => [name, v] as const),
  );
  return fc.tuple(...entries).map((parts) => Object.fromEntries(parts.filter(([, v]) => v !== undefined)));
}

/** URL-encodes a form, repeating array values (email=a&email=b); `raw` appends undecodable escapes as is. */
export function encodeForm(form: Record<string, string | string[]>, raw?: string): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(form)) for (const one of Array.isArray(v) ? v : [v]) p.append(k, one);
  const s = p.toString();
  return raw ? `${s}${s ? '&' : ''}${raw}` : s;
}

/** Percent-escapes that are not valid UTF-8 or not valid escapes at all. */
export const badEscapes = fc.constantFrom('x=%FF%FE', 'x=%C0%AF', 'x=%E2%82', 'x=%', 'x=%G1', '%FF=1', 'x=%ED%A0%80', '=&&=&x');

export interface RawResponse {
  status: number;
  headers: Headers;
  body: string;
}

/**
 * One request with the browser's cookies (response cookies are not kept); no redirect following. Over
 * node:http on a fresh connection, not fetch: a server that answers an oversized body before reading it
 * all is within its rights, and node:http reads that answer where fetch reports a reset.
 */
export async function send(
  srv: TestServer,
  path: string,
  init: { method?: string; body?: string | Uint8Array; type?: string; headers?: Record<string, string>; browser?: FakeBrowser; accept?: string } = {},
): Promise<RawResponse> {
  const url = new URL(path, srv.url);
  const headers: Record<string, string> = { accept: init.accept ?? 'text/html', ...(init.browser?.headers ?? {}) };
  const cookie = init.browser?.cookieHeader(url);
  if (cookie) headers.cookie = cookie;
  if (init.type) headers['content-type'] = init.type;
  Object.assign(headers, init.headers);
  const body = typeof init.body === 'string' ? Buffer.from(init.body) : init.body;
  if (body) headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = httpRequest(url, { method: init.method ?? (body !== undefined ? 'POST' : 'GET'), headers, agent: false }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) for (const one of Array.isArray(v) ? v : v === undefined ? [] : [v]) h.append(k, one);
        resolve({ status: res.statusCode ?? 0, headers: h, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    // The server may answer and close before it read the whole body; the answer is what counts.
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') return reject(err);
      setTimeout(() => answered || reject(err), 2000);
    });
    req.end(body);
  });
}

/** What must never reach a client: stack frames, driver/runtime error texts, file paths. */
const LEAKS =
  /\bat [\w.<>$]+ \(|\bat (async )?file:|node_modules|node:internal|\/work\/|\/src\/[\w/-]+\.ts|TypeError|ReferenceError|SyntaxError: |RangeError|Cannot read propert|is not a function|undefined is not|SQLITE_|knex|relation "|syntax error at|invalid input syntax|duplicate key|ECONNREFUSED|ERR_[A-Z_]{4,}|Z_DATA_ERROR|oops! something went wrong/i;

/** A clean answer: no 5xx, nothing internal in the body. */
export function expectClean(res: RawResponse, what: string): void {
  expect(res.status, `${what} → ${res.status}: ${res.body.slice(0, 300)}`).toBeLessThan(500);
  const leak = res.body.match(LEAKS);
  expect(leak?.[0], `${what} leaked "${leak?.[0]}": ${res.body.slice(0, 300)}`).toBeUndefined();
}

/** Tables whose rows a rejected request must never touch. */
const DURABLE = ['users', 'factors', 'backup_codes', 'clients', 'devices', 'signing_keys'] as const;

/** A digest of the durable tables plus the number of successful audit events (failed attempts are audited by design). */
export async function snapshot(srv: TestServer): Promise<{ durable: string; audit: number }> {
  const { db } = srv.container;
  const h = createHash('sha256');
  for (const table of DURABLE) {
    const rows = (await db(table).select('*')).map((r: unknown) => JSON.stringify(r)).sort();
    h.update(table).update(rows.join('\n'));
  }
  const audit = Number(((await db('audit_events').where({ outcome: 'success' }).count({ n: '*' }).first()) as { n: unknown }).n);
  return { durable: h.digest('hex'), audit };
}

/** Expects a rejected request (4xx) to have changed no durable row and recorded no successful event. */
export function expectUnchanged(before: { durable: string; audit: number }, after: { durable: string; audit: number }, res: RawResponse, what: string) {
  if (res.status < 400) return;
  expect(after.durable, `${what} → ${res.status} changed durable rows`).toBe(before.durable);
  expect(after.audit, `${what} → ${res.status} recorded a successful event`).toBe(before.audit);
}

/** Sends, checks the answer is clean, and that a rejection changed nothing. */
export async function probe(srv: TestServer, path: string, init: Parameters<typeof send>[2], what = path): Promise<RawResponse> {
  const before = await snapshot(srv);
  const res = await send(srv, path, init);
  expectClean(res, what);
  expectUnchanged(before, await snapshot(srv), res, what);
  return res;
}
