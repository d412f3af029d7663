/**
 * The resource-server helper (src/rs/index.ts): RFC 9470 step-up challenges (checklist 100–102, A4).
 * checkAuthentication/parseStepUpChallenge are pure (fixed `now`); requireAuthentication runs on a real Koa
 * app on a free port, with a stub introspection function (the RS's own dependency).
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Koa from 'koa';
import {
  DEFAULT_ACR_LEVELS,
  DEFAULT_ACR_MAX_AGES,
  checkAuthentication,
  levelsFromDiscovery,
  parseStepUpChallenge,
  requireAuthentication,
  type AuthenticationRequirement,
  type TokenAuthentication,
} from '../../src/rs/index.js';

const NOW = 1_700_000_000;
const opts = { now: NOW };

/** RFC 9470 §3 challenge: Bearer error="insufficient_user_authentication", error_description="…", then acr_values / max_age. */
const CHALLENGE = /^Bearer error="insufficient_user_authentication", error_description="[^"]+"(, acr_values="[^"]+")?(, max_age="\d+")?$/;

function denied(token: TokenAuthentication | null | undefined, req: AuthenticationRequirement, o: { levels?: Record<string, number>; maxAges?: Record<string, number>; now?: number } = opts) {
  const r = checkAuthentication(token, req, o);
  if (r.ok) throw new Error('expected a challenge, got ok');
  return r;
}

describe('DEFAULT_ACR_LEVELS', () => {
  it('mirrors the IdP default table', () => {
    expect(DEFAULT_ACR_LEVELS).toEqual({ loa1: 1, loa2: 2, phr: 3 });
  });
});

describe('checkAuthentication()', () => {
  describe('accepts', () => {
    it('a token at or above the lowest listed acr ("at least one of")', () => {
      const at = NOW - 60;
      expect(checkAuthentication({ acr: 'loa2', auth_time: at }, { acrValues: ['loa2'] }, opts)).toEqual({ ok: true });
      expect(checkAuthentication({ acr: 'phr', auth_time: at }, { acrValues: ['loa2'] }, opts)).toEqual({ ok: true });
      expect(checkAuthentication({ acr: 'loa2', auth_time: at }, { acrValues: ['phr', 'loa2'] }, opts)).toEqual({ ok: true });
      expect(checkAuthentication({ acr: 'loa2', auth_time: at, active: true }, { acrValues: ['loa2'] }, opts)).toEqual({ ok: true });
    });

    it('a token whose acr equals a listed value, even one the level table does not know', () => {
      expect(checkAuthentication({ acr: 'urn:acme:gold' }, { acrValues: ['urn:acme:gold'] }, opts)).toEqual({ ok: true });
      expect(checkAuthentication({ acr: 'loa1', auth_time: NOW }, { acrValues: ['phr', 'loa1'] }, opts)).toEqual({ ok: true });
      expect(checkAuthentication({ acr: 'urn:x' }, { acrValues: ['phr', 'urn:x'] }, opts)).toEqual({ ok: true });
    });

    it('any live token when nothing is required', () => {
      expect(checkAuthentication({}, {}, opts)).toEqual({ ok: true });
      expect(checkAuthentication({ acr: 'loa1' }, { acrValues: [] }, opts)).toEqual({ ok: true });
    });

    it('auth_time within maxAge, boundary included', () => {
      expect(checkAuthentication({ acr: 'loa2', auth_time: NOW - 299 }, { maxAge: 300 }, opts)).toEqual({ ok: true });
      expect(checkAuthentication({ acr: 'loa2', auth_time: NOW - 300 }, { maxAge: 300 }, opts)).toEqual({ ok: true });
      expect(checkAuthentication({ auth_time: NOW }, { maxAge: 0 }, opts)).toEqual({ ok: true });
      expect(checkAuthentication({ acr: 'loa2', auth_time: NOW - 60 }, { acrValues: ['loa2'], maxAge: 300 }, opts)).toEqual({ ok: true });
    });

    it('custom level tables', () => {
      const levels = { bronze: 1, silver: 2, gold: 3 };
      expect(checkAuthentication({ acr: 'gold' }, { acrValues: ['silver'] }, { levels, now: NOW })).toEqual({ ok: true });
      expect(checkAuthentication({ acr: 'bronze' }, { acrValues: ['silver'] }, { levels, now: NOW }).ok).toBe(false);
      // With a custom table the default names mean nothing.
      expect(checkAuthentication({ acr: 'phr' }, { acrValues: ['silver'] }, { levels, now: NOW }).ok).toBe(false);
    });
  });

  describe('insufficient acr → 401 insufficient_user_authentication (RFC 9470 §3)', () => {
    it('emits the exact challenge', () => {
      const r = denied({ acr: 'loa1' }, { acrValues: ['loa2'] });
      expect(r.status).toBe(401);
      expect(r.error).toBe('insufficient_user_authentication');
      expect(r.wwwAuthenticate).toBe(
        'Bearer error="insufficient_user_authentication", error_description="A stronger authentication level is required", acr_values="loa2"',
      );
      expect(r.wwwAuthenticate).toMatch(CHALLENGE);
    });

    it('lists every acceptable value, space-separated and in the route\'s order', () => {
      const r = denied({ acr: 'loa1' }, { acrValues: ['phr', 'loa2'] });
      expect(r.wwwAuthenticate).toContain('acr_values="phr loa2"');
      expect(r.wwwAuthenticate).not.toContain('max_age');
    });

    it('missing acr, unknown acr, or a higher-looking unknown name are all insufficient', () => {
      expect(denied({}, { acrValues: ['loa1'] }).error).toBe('insufficient_user_authentication');
      expect(denied({ acr: 'urn:other:strong' }, { acrValues: ['loa1'] }).error).toBe('insufficient_user_authentication');
      expect(denied({ acr: 'phr' }, { acrValues: ['urn:acme:gold'] }).error).toBe('insufficient_user_authentication');
    });

    it('carries max_age too when the route also has one', () => {
      const r = denied({ acr: 'loa1', auth_time: NOW }, { acrValues: ['loa2'], maxAge: 300 });
      expect(r.wwwAuthenticate).toBe(
        'Bearer error="insufficient_user_authentication", error_description="A stronger authentication level is required", acr_values="loa2", max_age="300"',
      );
    });

    // Regression: inherited Object.prototype names once resolved to functions and passed the check.
    it('acr names inherited from Object.prototype are not levels', () => {
      for (const acr of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
        expect(checkAuthentication({ acr }, { acrValues: ['loa2'] }, opts).ok, acr).toBe(false);
      }
    });
  });

  describe('stale or missing auth_time → 401 with max_age (checklist 102)', () => {
    it('auth_time older than maxAge', () => {
      const r = denied({ acr: 'loa2', auth_time: NOW - 301 }, { acrValues: ['loa2'], maxAge: 300 });
      expect(r.status).toBe(401);
      expect(r.error).toBe('insufficient_user_authentication'); // not a generic invalid_token
      expect(r.wwwAuthenticate).toBe(
        'Bearer error="insufficient_user_authentication", error_description="More recent authentication is required", acr_values="loa2", max_age="300"',
      );
      expect(r.wwwAuthenticate).toMatch(CHALLENGE);
    });

    it('maxAge only: no acr_values parameter', () => {
      const r = denied({ acr: 'phr', auth_time: NOW - 3600 }, { maxAge: 600 });
      expect(r.wwwAuthenticate).toBe('Bearer error="insufficient_user_authentication", error_description="More recent authentication is required", max_age="600"');
    });

    it('maxAge 0 rejects any earlier authentication', () => {
      expect(denied({ auth_time: NOW - 1 }, { maxAge: 0 }).wwwAuthenticate).toContain('max_age="0"');
    });

    it('missing or non-numeric auth_time with a maxAge is insufficient', () => {
      expect(denied({ acr: 'phr' }, { maxAge: 300 }).error).toBe('insufficient_user_authentication');
      expect(denied({ acr: 'phr', auth_time: String(NOW) as unknown as number }, { maxAge: 300 }).error).toBe('insufficient_user_authentication');
    });

    it('without maxAge, auth_time is not needed when the table sets no level max ages', () => {
      expect(checkAuthentication({ acr: 'loa2' }, { acrValues: ['loa2'] }, { ...opts, maxAges: {} })).toEqual({ ok: true });
    });

    it("checks each level's max age by default (issue 8): an old loa2/phr token no longer proves its level", () => {
      const HOUR = 3600;
      expect(checkAuthentication({ acr: 'loa2', auth_time: NOW - 12 * HOUR }, { acrValues: ['loa2'] }, opts).ok).toBe(true);
      expect(denied({ acr: 'loa2', auth_time: NOW - 12 * HOUR - 1 }, { acrValues: ['loa2'] }).error).toBe('insufficient_user_authentication');
      // …it counts as the highest lower level still within its max age.
      expect(checkAuthentication({ acr: 'loa2', auth_time: NOW - 13 * HOUR }, { acrValues: ['loa1'] }, opts).ok).toBe(true);
      expect(checkAuthentication({ acr: 'phr', auth_time: NOW - 16 * 60 }, { acrValues: ['loa2'] }, opts).ok).toBe(true);
      expect(denied({ acr: 'phr', auth_time: NOW - 16 * 60 }, { acrValues: ['phr'] }).wwwAuthenticate).toMatch(CHALLENGE);
      // Without auth_time a level with a max age is not proven.
      expect(denied({ acr: 'loa2' }, { acrValues: ['loa2'] }).error).toBe('insufficient_user_authentication');
    });

    it('reads the level table and max ages from discovery metadata', () => {
      const meta = { stepwise_acr_levels: { loa1: { level: 1, max_age: 100 }, 'urn:gold': { level: 5, max_age: 60 } } };
      const table = levelsFromDiscovery(meta);
      expect(table).toEqual({ levels: { loa1: 1, 'urn:gold': 5 }, maxAges: { loa1: 100, 'urn:gold': 60 } });
      expect(checkAuthentication({ acr: 'urn:gold', auth_time: NOW - 60 }, { acrValues: ['urn:gold'] }, { ...table, now: NOW }).ok).toBe(true);
      expect(checkAuthentication({ acr: 'urn:gold', auth_time: NOW - 61 }, { acrValues: ['urn:gold'] }, { ...table, now: NOW }).ok).toBe(false);
      expect(levelsFromDiscovery({})).toEqual({ levels: DEFAULT_ACR_LEVELS, maxAges: DEFAULT_ACR_MAX_AGES });
    });

    it('uses the injected clock', () => {
      const token = { auth_time: NOW - 100 };
      expect(checkAuthentication(token, { maxAge: 150 }, { now: NOW }).ok).toBe(true);
      expect(checkAuthentication(token, { maxAge: 150 }, { now: NOW + 51 }).ok).toBe(false);
    });
  });

  describe('no live token → invalid_token', () => {
    it.each([
      ['null', null],
      ['undefined', undefined],
      ['inactive', { active: false, acr: 'phr', auth_time: NOW }],
    ])('%s', (_name, token) => {
      const r = denied(token as TokenAuthentication | null | undefined, { acrValues: ['loa1'] });
      expect(r).toEqual({ ok: false, status: 401, error: 'invalid_token', wwwAuthenticate: 'Bearer error="invalid_token"' });
    });

    it('even when the route requires nothing', () => {
      expect(denied({ active: false }, {}).error).toBe('invalid_token');
      expect(denied(null, {}).error).toBe('invalid_token');
    });
  });
});

describe('parseStepUpChallenge()', () => {
  it('round-trips what checkAuthentication emits', () => {
    const cases: Array<[TokenAuthentication, AuthenticationRequirement, { acrValues?: string; maxAge?: number }]> = [
      [{ acr: 'loa1' }, { acrValues: ['loa2'] }, { acrValues: 'loa2' }],
      [{ acr: 'loa1' }, { acrValues: ['phr', 'loa2'] }, { acrValues: 'phr loa2' }],
      [{ acr: 'loa2', auth_time: NOW - 1000 }, { acrValues: ['loa2'], maxAge: 300 }, { acrValues: 'loa2', maxAge: 300 }],
      [{ acr: 'phr' }, { maxAge: 0 }, { maxAge: 0 }],
    ];
    for (const [token, req, expected] of cases) {
      const r = denied(token, req);
      expect(parseStepUpChallenge(r.wwwAuthenticate)).toEqual({ error: 'insufficient_user_authentication', acrValues: expected.acrValues, maxAge: expected.maxAge });
    }
  });

  it('round-trips quoted values containing spaces, commas, quotes and backslashes', () => {
    const levels = { 'urn:acme:a "b", c': 2, 'x\\y': 2, low: 1 };
    const req = { acrValues: ['urn:acme:a "b", c', 'x\\y'], maxAge: 60 };
    const r = denied({ acr: 'low' }, req, { levels, now: NOW });
    expect(parseStepUpChallenge(r.wwwAuthenticate)).toEqual({ error: 'insufficient_user_authentication', acrValues: 'urn:acme:a "b", c x\\y', maxAge: 60 });
  });

  it('reads invalid_token challenges', () => {
    expect(parseStepUpChallenge(denied(null, {}).wwwAuthenticate)).toEqual({ error: 'invalid_token', acrValues: undefined, maxAge: undefined });
  });

  it('accepts unquoted token values, any scheme case and extra parameters', () => {
    expect(parseStepUpChallenge('Bearer realm="api", error=insufficient_user_authentication, acr_values="phr", max_age=60')).toEqual({
      error: 'insufficient_user_authentication',
      acrValues: 'phr',
      maxAge: 60,
    });
    expect(parseStepUpChallenge('bearer error="insufficient_user_authentication", acr_values="loa2"')).toMatchObject({ acrValues: 'loa2' });
  });

  it('does not pick parameters out of another parameter\'s quoted value', () => {
    expect(parseStepUpChallenge('Bearer error_description="retry with acr_values=phr, max_age=1", error="insufficient_user_authentication"')).toEqual({
      error: 'insufficient_user_authentication',
      acrValues: undefined,
      maxAge: undefined,
    });
  });

  it.each([null, undefined, '', 'Bearer', 'Basic realm="x"', 'Digest error="x"', 'garbage', 'Bearer ,,, ===', 'Bearer "unterminated'])(
    'handles garbage without throwing: %j',
    (header) => {
      const parsed = parseStepUpChallenge(header);
      expect(parsed.error).toBeUndefined();
      expect(parsed.acrValues).toBeUndefined();
      expect(parsed.maxAge).toBeUndefined();
    },
  );
});

describe('requireAuthentication() on a Koa app', () => {
  const NOW_MS = NOW * 1000;
  const TOKENS: Record<string, TokenAuthentication> = {
    strong: { active: true, sub: 'u1', acr: 'phr', auth_time: NOW - 60 },
    weak: { active: true, sub: 'u2', acr: 'loa1', auth_time: NOW - 60 },
    stale: { active: true, sub: 'u3', acr: 'phr', auth_time: NOW - 301 },
    revoked: { active: false },
  };
  const introspected: string[] = [];
  let nextRuns = 0;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    const app = new Koa();
    app.use(
      requireAuthentication(
        { acrValues: ['loa2'], maxAge: 300 },
        {
          introspect: async (token) => {
            introspected.push(token);
            return TOKENS[token] ?? null;
          },
          now: () => NOW_MS, // milliseconds, like Date.now
        },
      ),
    );
    app.use((ctx) => {
      nextRuns++;
      ctx.body = { ok: true, token: ctx.state.token };
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const call = (authorization?: string) => fetch(`${base}/api/thing`, { headers: authorization ? { authorization } : {} });

  async function expectRejected(res: Response, error: string) {
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error });
  }

  it('no token → 401 invalid_token, introspection and handler not called', async () => {
    const before = { n: nextRuns, i: introspected.length };
    const res = await call();
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    await expectRejected(res, 'invalid_token');
    expect(nextRuns).toBe(before.n);
    expect(introspected.length).toBe(before.i);
  });

  it('non-Bearer or malformed Authorization → 401 invalid_token', async () => {
    for (const h of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer a b', 'Bearerstrong']) {
      const res = await call(h);
      expect(res.headers.get('www-authenticate'), h).toBe('Bearer error="invalid_token"');
      await expectRejected(res, 'invalid_token');
    }
    expect(introspected).not.toContain('a');
  });

  it('unknown or inactive token → 401 invalid_token', async () => {
    for (const t of ['nope', 'revoked']) {
      const res = await call(`Bearer ${t}`);
      expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
      await expectRejected(res, 'invalid_token');
    }
    expect(introspected).toEqual(expect.arrayContaining(['nope', 'revoked']));
  });

  it('acr too low → 401 with the RFC 9470 challenge, handler not called', async () => {
    const before = nextRuns;
    const res = await call('Bearer weak');
    const header = res.headers.get('www-authenticate');
    expect(header).toMatch(CHALLENGE);
    expect(parseStepUpChallenge(header)).toEqual({ error: 'insufficient_user_authentication', acrValues: 'loa2', maxAge: 300 });
    await expectRejected(res, 'insufficient_user_authentication');
    expect(nextRuns).toBe(before);
  });

  it('auth_time older than maxAge (clock in ms) → 401 with max_age', async () => {
    const res = await call('Bearer stale');
    const header = res.headers.get('www-authenticate')!;
    expect(header).toContain('error_description="More recent authentication is required"');
    expect(header).toContain('max_age="300"');
    await expectRejected(res, 'insufficient_user_authentication');
  });

  it('sufficient token → next() runs with ctx.state.token set to the introspected claims', async () => {
    const before = nextRuns;
    const res = await call('Bearer strong');
    expect(res.status).toBe(200);
    expect(res.headers.get('www-authenticate')).toBeNull();
    expect(await res.json()).toEqual({ ok: true, token: TOKENS.strong });
    expect(nextRuns).toBe(before + 1);
    expect(introspected.at(-1)).toBe('strong');
  });

  it('the scheme name is case-insensitive', async () => {
    const res = await call('bearer strong');
    expect(res.status).toBe(200);
  });
});
