/**
 * Sign-in driving for assurance tests: users with factors set up directly through the factor modules, and
 * a loop that answers every hosted page (password, TOTP, WebAuthn, the chooser) until the browser leaves
 * the IdP, recording which steps were asked. Time comes from the test's fake clock.
 */
import { expect } from 'vitest';
import { FakeBrowser, hiddenField, type Page } from './browser.js';
import { authRequest, exchange, makeUser, PASSWORD, type TestRp } from './rp.js';
import { totpCode } from './account.js';
import { SoftAuthenticator } from './soft-authenticator.js';
import type { TestServer } from './server.js';
import type { FactorContext } from '../../src/factors/types.js';

export const unescapeHtml = (s: string) => s.replace(/&#34;|&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

export interface TestUser {
  id: string;
  email: string;
  password?: string;
  totpSecret?: string;
  authenticator?: SoftAuthenticator;
}

export interface FakeClock {
  now(): number;
  advance(seconds: number): void;
}

/** A clock that starts at the real time and moves only when told to (on top of the real clock). */
export function fakeClock(): FakeClock {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance: (seconds) => {
      offset += seconds * 1000;
    },
  };
}

export function stepUpKit(server: () => TestServer, defaultRp: () => TestRp, clock: FakeClock) {
  const { now, advance } = clock;

  async function user(opts: { totp?: boolean; webauthn?: boolean } = {}): Promise<TestUser> {
    const srv = server();
    const u = await makeUser(srv);
    const ctx: FactorContext = { userId: u.id, userEmail: u.email, userName: null, scope: `setup-${u.id}`, now: now() };
    const out: TestUser = { id: u.id, email: u.email };
    const registry = srv.container.factorService.registry;
    if (opts.totp) {
      const start = await registry.totp.startEnrollment(ctx, {});
      out.totpSecret = start.secret as string;
      await registry.totp.finishEnrollment(ctx, { factorId: start.factorId, code: totpCode(out.totpSecret, now()) });
      advance(30); // the confirmation code's step is spent
    }
    if (opts.webauthn) {
      const soft = new SoftAuthenticator({ rpID: 'localhost', origin: srv.url, userVerified: false });
      const start = await registry.webauthn.startEnrollment(ctx, {});
      await registry.webauthn.finishEnrollment(ctx, { response: await soft.register(start.optionsJSON as never), name: 'Key' });
      out.authenticator = soft;
    }
    return out;
  }

  /** Answers every page until the browser leaves the IdP; records which steps were asked. */
  async function answer(browser: FakeBrowser, page: Page, u: TestUser, asked: string[] = [], opts: { rememberDevice?: boolean } = {}): Promise<Page> {
    for (let i = 0; i < 8; i++) {
      if (!page.url.includes('/interaction/')) return page;
      const login = page.body.match(/action="(\/interaction\/[^"]+\/login)"/)?.[1];
      if (login) {
        asked.push('password');
        page = await browser.follow(login, { form: { email: u.email, password: u.password ?? PASSWORD, csrf: hiddenField(page.body, 'csrf') } });
        continue;
      }
      const totp = page.body.match(/action="(\/interaction\/[^"]+\/factor\/totp)"/)?.[1];
      if (totp) {
        asked.push('totp');
        advance(30);
        const remember: Record<string, string> = opts.rememberDevice ? { remember_device: '1' } : {};
        page = await browser.follow(totp, { form: { code: totpCode(u.totpSecret!, now()), csrf: hiddenField(page.body, 'csrf'), ...remember } });
        continue;
      }
      const webauthn = page.body.match(/data-options='([^']+)'\s+data-action="([^"]+)" data-csrf="([^"]+)"/);
      if (webauthn) {
        asked.push('webauthn');
        const response = await u.authenticator!.authenticate(JSON.parse(unescapeHtml(webauthn[1]!)));
        const res = await browser.request(webauthn[2]!, { json: { csrf: webauthn[3], response } });
        expect(res.status).toBe(200);
        page = await browser.follow((JSON.parse(res.body) as { redirect: string }).redirect);
        continue;
      }
      const uid = page.url.match(/\/interaction\/([^/?]+)/)?.[1];
      // On the chooser, prefer TOTP so a test decides when WebAuthn (phr) comes in.
      const choice = (page.body.match(/href="(\/interaction\/[^"]+\/factor\/totp)"/) ?? page.body.match(/href="(\/interaction\/[^"]+\/factor\/webauthn)"/))?.[1];
      if (choice && uid) {
        page = await browser.follow(choice);
        continue;
      }
      return page;
    }
    return page;
  }

  async function authorize(browser: FakeBrowser, u: TestUser, params: Record<string, string> = {}, client = defaultRp(), opts: { rememberDevice?: boolean } = {}) {
    const req = await authRequest(client, params);
    const asked: string[] = [];
    const page = await answer(browser, await browser.follow(req.url), u, asked, opts);
    return { req, page, asked, callback: new URL(page.url) };
  }

  async function tokensFor(browser: FakeBrowser, u: TestUser, params: Record<string, string> = {}, client = defaultRp(), opts: { rememberDevice?: boolean } = {}) {
    const r = await authorize(browser, u, params, client, opts);
    expect(r.callback.searchParams.get('error'), r.page.body.slice(0, 300)).toBeNull();
    const tokens = await exchange(client, r.req, r.page.url);
    return { tokens, claims: tokens.claims()!, asked: r.asked };
  }

  return { user, answer, authorize, tokensFor };
}
