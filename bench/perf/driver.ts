/**
 * The load driver's HTTP flows, identical for Stepwise and the baseline: a cookie jar, a sign-in that
 * answers whatever hosted page comes (password, TOTP, an MFA notice's "Later", consent), and the token
 * calls. Every request is timed under a step name so the report can give p50/p95/p99 per step.
 */
import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { generateSync } from 'otplib';

export interface Target {
  name: string;
  base: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  /** Extra authorization parameters when a second factor is wanted (Stepwise: acr_values=loa2). */
  twoFactorParams: Record<string, string>;
  /** A client allowed client_credentials (defaults to the code-flow client). */
  cc?: { clientId: string; clientSecret: string; scope: string };
  /** When set, each request's server CPU (ns, `now()` before and after) is charged to its step. Only meaningful one request at a time. */
  stepCpu?: { now(): number; spent: StepTimes };
}

export interface BenchUser {
  email: string;
  password: string;
  totpSecret?: string;
}

export type StepTimes = Map<string, number[]>;

export function record(times: StepTimes, step: string, ms: number) {
  const list = times.get(step);
  if (list) list.push(ms);
  else times.set(step, [ms]);
}

class Jar {
  private cookies = new Map<string, string>();
  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  store(res: Response) {
    for (const h of res.headers.getSetCookie()) {
      const pair = h.split(';')[0]!;
      const i = pair.indexOf('=');
      this.cookies.set(pair.slice(0, i), pair.slice(i + 1));
    }
  }
}

const basic = (c: { clientId: string; clientSecret: string }) => `Basic ${Buffer.from(`${encodeURIComponent(c.clientId)}:${encodeURIComponent(c.clientSecret)}`).toString('base64')}`;
const hidden = (html: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1];

async function timed(t: Target, times: StepTimes, step: string, input: string, init: RequestInit): Promise<Response> {
  const cpu0 = t.stepCpu?.now();
  const t0 = performance.now();
  const res = await fetch(input, init);
  const body = await res.arrayBuffer(); // the step ends when the whole response has arrived
  record(times, step, performance.now() - t0);
  if (t.stepCpu && cpu0 !== undefined) record(t.stepCpu.spent, step, (t.stepCpu.now() - cpu0) / 1e6);
  return new Response(res.status === 204 || res.status === 304 || (res.status >= 300 && res.status < 400) ? null : body, { status: res.status, headers: res.headers });
}

export interface Tokens {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
}

/** Full code flow with PKCE from a fresh browser: authorize → hosted pages → callback → token. */
export async function signIn(t: Target, user: BenchUser, times: StepTimes, opts: { twoFactor?: boolean; offline?: boolean } = {}): Promise<Tokens> {
  const jar = new Jar();
  const verifier = randomBytes(32).toString('base64url');
  const q = new URLSearchParams({
    client_id: t.clientId,
    response_type: 'code',
    scope: opts.offline ? 'openid email offline_access' : 'openid email',
    ...(opts.offline ? { prompt: 'consent' } : {}),
    redirect_uri: t.redirectUri,
    state: randomBytes(8).toString('hex'),
    nonce: randomBytes(8).toString('hex'),
    code_challenge_method: 'S256',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    ...(opts.twoFactor ? t.twoFactorParams : {}),
  });
  let url = `${t.base}/auth?${q}`;
  let init: RequestInit = { method: 'GET' };
  let step = 'authorize';
  for (let hop = 0; hop < 16; hop++) {
    const res = await timed(t, times, step, url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: jar.header(), accept: 'text/html' } });
    jar.store(res);
    if (res.status >= 300 && res.status < 400) {
      url = new URL(res.headers.get('location')!, url).toString();
      if (url.startsWith(t.redirectUri)) break;
      init = { method: 'GET' };
      step = url.includes('/interaction/') ? 'interaction page' : 'resume';
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`${t.name}: ${step} answered ${res.status}: ${html.slice(0, 200)}`);
    const action = /<form[^>]*method="post"[^>]*action="([^"]+)"|<form[^>]*action="([^"]+)"[^>]*method="post"/i.exec(html);
    const path = (action?.[1] ?? action?.[2])?.replace(/&amp;/g, '&');
    if (!path) throw new Error(`${t.name}: no form on ${url}: ${html.slice(0, 200)}`);
    const form = new URLSearchParams();
    const csrf = hidden(html, 'csrf');
    if (csrf) form.set('csrf', csrf);
    if (/\/login$/.test(path)) {
      step = 'password';
      form.set('email', user.email);
      form.set('password', user.password);
    } else if (/\/totp$/.test(path)) {
      step = 'totp';
      // The code of the next step: inside the ±1 step window and never a step already spent (enrolment).
      form.set('code', generateSync({ secret: user.totpSecret!, epoch: Math.floor(Date.now() / 1000) + 30 }));
    } else if (/mfa-notice\/later$/.test(path)) {
      step = 'mfa notice';
    } else if (/consent|confirm/.test(path)) {
      step = 'consent';
    } else {
      throw new Error(`${t.name}: unexpected form ${path}`);
    }
    url = new URL(path, url).toString();
    init = { method: 'POST', body: form.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } };
  }
  const code = new URL(url).searchParams.get('code');
  if (!code) throw new Error(`${t.name}: no code in ${url}`);
  const res = await timed(t, times, 'token (code)', `${t.base}/token`, {
    method: 'POST',
    headers: { authorization: basic(t), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: t.redirectUri, code_verifier: verifier }),
  });
  const json = (await res.json()) as Tokens & { error?: string };
  if (!json.id_token) throw new Error(`${t.name}: token exchange failed: ${JSON.stringify(json)}`);
  return json;
}

async function tokenCall(t: Target, times: StepTimes, step: string, params: Record<string, string>, client: { clientId: string; clientSecret: string } = t): Promise<Tokens> {
  const res = await timed(t, times, step, `${t.base}/token`, {
    method: 'POST',
    headers: { authorization: basic(client), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params),
  });
  const json = (await res.json()) as Tokens & { error?: string };
  if (!json.access_token) throw new Error(`${t.name}: ${step} failed: ${JSON.stringify(json)}`);
  return json;
}

export const refresh = (t: Target, token: string, times: StepTimes) => tokenCall(t, times, 'refresh_token grant', { grant_type: 'refresh_token', refresh_token: token });

export const clientCredentials = (t: Target, times: StepTimes) =>
  tokenCall(t, times, 'client_credentials grant', { grant_type: 'client_credentials', scope: t.cc?.scope ?? 'api:read' }, t.cc ?? t);

export async function userinfo(t: Target, accessToken: string, times: StepTimes) {
  const res = await timed(t, times, 'userinfo', `${t.base}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
  if (res.status !== 200) throw new Error(`${t.name}: userinfo ${res.status}`);
}

export async function introspect(t: Target, token: string, times: StepTimes) {
  const res = await timed(t, times, 'introspection', `${t.base}/token/introspection`, {
    method: 'POST',
    headers: { authorization: basic(t), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }),
  });
  const json = (await res.json()) as { active?: boolean };
  if (json.active !== true) throw new Error(`${t.name}: introspection says inactive`);
}
