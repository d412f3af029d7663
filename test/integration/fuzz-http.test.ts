/**
 * Issue 14, fuzzing the HTTP layer under every body-taking route: Content-Type that does not match the body,
 * Content-Encoding that lies (or is real: gzip/deflate/br, a decompression bomb), huge bodies, invalid UTF-8,
 * deep JSON, and junk X-Forwarded-For / Accept headers behind TRUST_PROXY. Never a 5xx, never a stack trace,
 * never a durable change.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import fc from 'fast-check';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser, hiddenField } from '../helpers/browser.js';
import { authRequest, makeRp, makeUser, type TestRp } from '../helpers/rp.js';
import { openAccount } from '../helpers/account.js';
import { asHeader, junk, probe, runs, FUZZ_TIMEOUT } from '../helpers/fuzz.js';

const TYPES = [
  'application/x-www-form-urlencoded',
  'application/json',
  'text/plain',
  'multipart/form-data; boundary=x',
  'application/x-www-form-urlencoded; charset=x-junk',
  'application/x-www-form-urlencoded; charset=utf-16le',
  'application/json; charset=latin1',
  'application/jwt',
  ';;;',
];
const ENCODINGS = ['gzip', 'deflate', 'br', 'identity', 'gzip, gzip', 'x-junk', 'GZIP'];

const enc = new TextEncoder();
const bodies = fc.oneof(
  fc.string({ maxLength: 200 }).map((s) => ({ what: 'text', bytes: enc.encode(s) })),
  fc.uint8Array({ maxLength: 300 }).map((b) => ({ what: 'random bytes', bytes: b })),
  fc.constantFrom(
    { what: 'invalid UTF-8 form', bytes: Uint8Array.from([0x63, 0x73, 0x72, 0x66, 0x3d, 0xff, 0xfe, 0x26, 0x65, 0x3d, 0xc0, 0xaf]) },
    { what: 'invalid UTF-8 JSON', bytes: Uint8Array.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d]) },
    { what: 'deep JSON', bytes: enc.encode('['.repeat(20_000) + ']'.repeat(20_000)) },
    { what: 'huge form', bytes: enc.encode(`csrf=x&email=${'a'.repeat(200_000)}`) },
    { what: 'huge JSON', bytes: enc.encode(JSON.stringify({ csrf: 'x', code: 'a'.repeat(300_000) })) },
    { what: 'many params', bytes: enc.encode(Array.from({ length: 5000 }, (_, i) => `p${i}=${i}`).join('&')) },
    { what: 'gzip form', bytes: Uint8Array.from(gzipSync('csrf=x&email=a%40b.c&password=p')), encoding: 'gzip' },
    { what: 'deflate JSON', bytes: Uint8Array.from(deflateSync('{"csrf":"x","code":"123456"}')), encoding: 'deflate' },
    { what: 'br form', bytes: Uint8Array.from(brotliCompressSync('csrf=x&code=123456')), encoding: 'br' },
    { what: 'gzip bomb', bytes: Uint8Array.from(gzipSync(Buffer.alloc(20_000_000, 0x61))), encoding: 'gzip' },
  ),
);

describe.each(storeMatrix)('fuzzing the HTTP layer on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  let routes: { path: string; browser: FakeBrowser }[];

  beforeAll(async () => {
    srv = await startTestServer(kind, { TRUST_PROXY: '1' });
    rp = await makeRp(srv);
    const { email } = await makeUser(srv);
    const signIn = new FakeBrowser(srv.url);
    const login = await signIn.follow((await authRequest(rp)).url);
    const uid = login.url.match(/\/interaction\/([^/?]+)/)![1]!;
    const account = new FakeBrowser(srv.url);
    hiddenField((await openAccount(account, { email })).body, 'csrf');
    const anon = new FakeBrowser(srv.url);
    routes = [
      ...['/login', '/consent', '/abort', '/factor/totp', '/webauthn/passwordless'].map((p) => ({ path: `/interaction/${uid}${p}`, browser: signIn })),
      ...['/account/factors/totp/start', '/account/factors/webauthn/finish', '/account/devices/forget-all'].map((path) => ({ path, browser: account })),
      ...['/push/v1/devices', '/push/v1/challenges/x', '/token', '/token/introspection', '/token/revocation', '/request', '/me', '/session/end/confirm', '/auth'].map((path) => ({ path, browser: anon })),
    ];
  });
  afterAll(async () => srv?.close());

  it('any Content-Type, Content-Encoding, body, X-Forwarded-For and Accept on every body-taking route', async () => {
    const xff = fc.oneof(
      junk.map(asHeader),
      fc.array(fc.oneof(fc.ipV4(), fc.ipV6(), junk.map(asHeader)), { maxLength: 30 }).map((l) => l.join(', ')),
      fc.constantFrom('unknown', '::ffff:300.1.1.1', '1.1.1.1:99999', ', , ,', '[::1]:80', '999.999.999.999'),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: 1000 }),
        fc.constantFrom(...TYPES),
        fc.option(fc.constantFrom(...ENCODINGS)),
        bodies,
        fc.option(xff),
        fc.option(fc.oneof(fc.constantFrom('application/json', 'text/html', '*/*', 'application/jwt'), junk.map(asHeader))),
        async (pick, type, encoding, body, forwarded, accept) => {
          const route = routes[pick % routes.length]!;
          const headers: Record<string, string> = {};
          const ce = 'encoding' in body && pick % 3 !== 0 ? body.encoding : encoding;
          if (ce) headers['content-encoding'] = ce as string;
          if (forwarded !== null) headers['x-forwarded-for'] = forwarded;
          await probe(
            srv,
            route.path,
            { body: body.bytes, type, headers, browser: route.browser, accept: accept ?? 'text/html' },
            `${route.path} ${type} ce=${ce} ${body.what} xff=${forwarded?.slice(0, 80)}`,
          );
        },
      ),
      runs(60),
    );
  }, FUZZ_TIMEOUT);
});
