/**
 * Push approval in tests: enrollment through the account page + the reference device (in-process), a sign-in
 * up to the push page, hand-signed answers (to replay or tamper with them), and a local server speaking
 * FCM HTTP v1 that the firebase-admin SDK is pointed at through its HTTP agent.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { Agent } from 'node:https';
import { connect, type AddressInfo } from 'node:net';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { FakeBrowser, hiddenField, type Page } from './browser.js';
import { authRequest, submitPassword, type AuthRequest, type TestRp } from './rp.js';
import { openAccount, postAccountForm, testId } from './account.js';
import type { TestServer } from './server.js';
import { runDeviceCommand, type DeviceRecord } from '../../src/factors/push/device-client.js';
import { signAnswer, type Decision } from '../../src/factors/push/protocol.js';

/** A fresh device home (what `$STEPWISE_DEVICE_HOME` points the reference device at). */
export function deviceEnv(): { STEPWISE_DEVICE_HOME: string } {
  return { STEPWISE_DEVICE_HOME: mkdtempSync(join(tmpdir(), 'stepwise-device-')) };
}

export const device = (env: { STEPWISE_DEVICE_HOME: string }, ...argv: string[]) => runDeviceCommand(argv[0], argv.slice(1), env) as Promise<Record<string, unknown>>;

/** The device's stored record (keys, credential). */
export function deviceRecord(env: { STEPWISE_DEVICE_HOME: string }, i = 0): DeviceRecord {
  return (JSON.parse(readFileSync(join(env.STEPWISE_DEVICE_HOME, 'devices.json'), 'utf8')) as { devices: DeviceRecord[] }).devices[i]!;
}

/** Adds push on /account (fresh password sign-in) with the reference device; returns the browser and the device id. */
export async function enrollPush(srv: TestServer, email: string, env: { STEPWISE_DEVICE_HOME: string }, extra: string[] = []) {
  const browser = new FakeBrowser(srv.url);
  const account = await openAccount(browser, { email });
  expect(account.url).toMatch(/\/account$/);
  const page = await postAccountForm(browser, account, '/account/factors/push/start');
  expect(page.status).toBe(200);
  const token = testId(page.body, 'push-enrollment-token')[0]!;
  const enrolled = await device(env, 'enroll', token, '--name', 'Test phone', ...extra);
  expect(enrolled).toMatchObject({ enrolled: true, issuer: srv.url, status: 'pending' });
  const statusUrl = page.body.match(/data-testid="push-enroll-status" data-status-url="([^"]+)"/)![1]!;
  const status = await browser.request(statusUrl, { headers: { accept: 'application/json' } });
  expect(JSON.parse(status.body)).toEqual({ status: 'registered', deviceName: 'Test phone' });
  const done = await browser.follow('/account/factors/push/finish', {
    form: { csrf: hiddenField(page.body, 'csrf'), enrollmentId: hiddenField(page.body, 'enrollmentId') },
  });
  expect(testId(done.body, 'account-notice')[0]).toBe('Phone approval (push) added');
  return { browser, token, deviceId: String(enrolled.deviceId), enrollPage: page };
}

export interface PushSignIn {
  browser: FakeBrowser;
  req: AuthRequest;
  page: Page;
  number: string | undefined;
}

/** Authorization request (loa2 forces the second factor) → password → the push page. */
export async function startPushSignIn(rp: TestRp, srv: TestServer, email: string, params: Record<string, string> = { acr_values: 'loa2' }): Promise<PushSignIn> {
  const browser = new FakeBrowser(srv.url);
  const req = await authRequest(rp, params);
  let page = await submitPassword(browser, await browser.follow(req.url), email);
  // With several methods the chooser comes first: pick push, as a user would.
  const uid = page.url.match(/\/interaction\/([^/?]+)\/factor$/)?.[1];
  if (uid) page = await browser.follow(`/interaction/${uid}/factor/push`);
  expect(page.url).toMatch(/\/factor\/push$/);
  return { browser, req, page, number: testId(page.body, 'push-number')[0] };
}

/** The page's "Continue" button (the no-JS path). */
export async function continuePush(s: PushSignIn): Promise<Page> {
  const action = s.page.body.match(/action="(\/interaction\/[^"]+\/factor\/push)"/)![1]!;
  return s.browser.follow(action, { form: { csrf: hiddenField(s.page.body, 'csrf') } });
}

/** The page's "Send a new request" button. */
export async function resend(browser: FakeBrowser, page: Page): Promise<Page> {
  const action = page.body.match(/action="(\/interaction\/[^"]+\/factor\/push\/new)"/)![1]!;
  return browser.follow(action, { form: { csrf: hiddenField(page.body, 'csrf') } });
}

/** The page's poll. */
export async function pushStatus(s: PushSignIn): Promise<{ status: string; message: string }> {
  const url = s.page.body.match(/data-status-url="([^"]+)"/)![1]!;
  const res = await s.browser.request(url, { headers: { accept: 'application/json' } });
  return JSON.parse(res.body) as { status: string; message: string };
}

/** A signed answer exactly as the app sends it (body + where), to replay or alter. */
export function signedAnswer(rec: DeviceRecord, challengeId: string, decision: Decision, number: string, userVerified = false) {
  const key = createPrivateKey({ key: rec.privateKey, format: 'jwk' });
  const signature = signAnswer(key, { challengeId, decision, number: decision === 'approve' ? number : '', userVerified });
  return { decision, ...(decision === 'approve' ? { number } : {}), userVerified, signature };
}

export async function postAnswer(rec: DeviceRecord, challengeId: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${rec.issuer}/push/v1/challenges/${challengeId}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${rec.credential}`, 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

export async function pendingChallenges(rec: DeviceRecord): Promise<Array<Record<string, string>>> {
  const res = await fetch(`${rec.issuer}/push/v1/challenges`, { headers: { authorization: `Bearer ${rec.credential}`, accept: 'application/json' } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { challenges: Array<Record<string, string>> }).challenges;
}

// ---------------------------------------------------------------------------------------------- local FCM

export interface FcmRequest {
  method: string;
  path: string;
  host: string | undefined;
  authorization: string | undefined;
  body: { message?: { token?: string; data?: Record<string, string>; android?: Record<string, unknown> } };
}

/** Registration tokens the fake FCM answers 404 UNREGISTERED for. */
export const DEAD_FCM_TOKEN = 'dead-registration-token';

/**
 * A local HTTP server speaking FCM HTTP v1 (`POST /v1/projects/{id}/messages:send`), an HTTPS agent whose
 * connections all go to it (the SDK has no endpoint option), a credential that needs no Google token server,
 * and a service-account file so FIREBASE_CREDENTIALS passes the configuration check.
 */
export async function startFakeFcm(projectId = 'stepwise-test') {
  const requests: FcmRequest[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', () => {
      const body = JSON.parse(raw || '{}') as FcmRequest['body'];
      requests.push({ method: req.method!, path: req.url!, host: req.headers.host, authorization: req.headers.authorization, body });
      res.setHeader('content-type', 'application/json; charset=UTF-8');
      if (req.method !== 'POST' || req.url !== `/v1/projects/${projectId}/messages:send`) {
        res.statusCode = 404;
        return res.end(JSON.stringify({ error: { code: 404, message: 'not found', status: 'NOT_FOUND' } }));
      }
      if (body.message?.token === DEAD_FCM_TOKEN) {
        res.statusCode = 404;
        return res.end(
          JSON.stringify({
            error: {
              code: 404,
              message: 'Requested entity was not found.',
              status: 'NOT_FOUND',
              details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: 'UNREGISTERED' }],
            },
          }),
        );
      }
      res.end(JSON.stringify({ name: `projects/${projectId}/messages/${requests.length}` }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  // Plain HTTP over the socket the agent hands out: the SDK writes its request to whatever connection it gets.
  class LocalFcmAgent extends Agent {
    override createConnection() {
      return connect(port, '127.0.0.1');
    }
  }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const dir = mkdtempSync(join(tmpdir(), 'stepwise-fcm-'));
  const credentialsFile = join(dir, 'service-account.json');
  writeFileSync(
    credentialsFile,
    JSON.stringify({
      type: 'service_account',
      project_id: projectId,
      private_key_id: 'test',
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      client_email: `stepwise@${projectId}.iam.gserviceaccount.com`,
      client_id: '1',
      token_uri: 'https://oauth2.googleapis.com/token',
    }),
    { mode: 0o600 },
  );
  return {
    requests,
    projectId,
    env: { PUSH_TRANSPORT: 'firebase', FIREBASE_CREDENTIALS: credentialsFile },
    firebase: {
      credential: { getAccessToken: async () => ({ access_token: 'test-access-token', expires_in: 3600 }) },
      httpAgent: new LocalFcmAgent({ keepAlive: false }),
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
