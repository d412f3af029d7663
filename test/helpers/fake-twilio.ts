/**
 * A local HTTP server speaking Twilio's REST wire format for the Messages API, so the real `twilio` SDK can
 * be tested end to end: form-encoded POST /2010-04-01/Accounts/{AccountSid}/Messages.json with Basic auth,
 * 201 + a Message resource on success, Twilio's JSON error body ({ code, message, more_info, status }) on
 * failure. Tests read the codes from what it received, and queue errors with `failNext`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';

export const TEST_ACCOUNT_SID = `AC${'0123456789abcdef'.repeat(2)}`;
export const TEST_AUTH_TOKEN = 'test-auth-token-0123456789abcdef';
export const TEST_FROM = '+15005550006';

export interface ReceivedMessage {
  sid: string;
  to: string;
  from: string | null;
  messagingServiceSid: string | null;
  body: string;
  contentType: string | undefined;
}

export interface TwilioFailure {
  status: number;
  code: number;
  message: string;
}

export const TWILIO_ERRORS = {
  invalidNumber: { status: 400, code: 21211, message: "Invalid 'To' Phone Number" },
  rateLimited: { status: 429, code: 20429, message: 'Too Many Requests' },
  badCredentials: { status: 401, code: 20003, message: 'Authenticate' },
} satisfies Record<string, TwilioFailure>;

export interface FakeTwilio {
  url: string;
  /** Messages accepted (201), oldest first. */
  messages: ReceivedMessage[];
  /** Every request that reached the Messages endpoint, with its outcome status. */
  requests: Array<{ path: string; status: number; authorized: boolean }>;
  /** The next send gets this error instead of a 201. */
  failNext(failure: TwilioFailure): void;
  /** The 6-digit code of the last message to `to`. */
  lastCode(to: string): string;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (data += c));
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

const twilioError = (res: ServerResponse, f: TwilioFailure) =>
  json(res, f.status, { code: f.code, message: f.message, more_info: `https://www.twilio.com/docs/errors/${f.code}`, status: f.status });

export async function startFakeTwilio(accountSid = TEST_ACCOUNT_SID, authToken = TEST_AUTH_TOKEN): Promise<FakeTwilio> {
  const messages: ReceivedMessage[] = [];
  const requests: FakeTwilio['requests'] = [];
  const failures: TwilioFailure[] = [];
  const expectedAuth = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`;

  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const m = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(path);
    if (req.method !== 'POST' || !m) return json(res, 404, { code: 20404, message: 'The requested resource was not found', status: 404 });
    const authorized = req.headers.authorization === expectedAuth && m[1] === accountSid;
    const body = new URLSearchParams(await readBody(req));
    const respond = (status: number, send: () => void) => {
      requests.push({ path, status, authorized });
      send();
    };
    if (!authorized) return respond(401, () => twilioError(res, TWILIO_ERRORS.badCredentials));
    if (!(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      return respond(400, () => twilioError(res, { status: 400, code: 20001, message: 'Bad request body' }));
    }
    const failure = failures.shift();
    if (failure) return respond(failure.status, () => twilioError(res, failure));
    const to = body.get('To');
    const text = body.get('Body');
    if (!to || !text || (!body.get('From') && !body.get('MessagingServiceSid'))) {
      return respond(400, () => twilioError(res, { status: 400, code: 21604, message: "A 'To' phone number, a 'From' and a 'Body' are required." }));
    }
    const sid = `SM${randomBytes(16).toString('hex')}`;
    messages.push({ sid, to, from: body.get('From'), messagingServiceSid: body.get('MessagingServiceSid'), body: text, contentType: req.headers['content-type'] });
    const now = new Date().toUTCString();
    respond(201, () =>
      json(res, 201, {
        sid,
        account_sid: accountSid,
        to,
        from: body.get('From'),
        messaging_service_sid: body.get('MessagingServiceSid'),
        body: text,
        status: 'queued',
        num_segments: '1',
        num_media: '0',
        direction: 'outbound-api',
        api_version: '2010-04-01',
        price: null,
        price_unit: 'USD',
        error_code: null,
        error_message: null,
        date_created: now,
        date_updated: now,
        date_sent: null,
        uri: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`,
        subresource_uris: { media: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}/Media.json` },
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    messages,
    requests,
    failNext: (f) => void failures.push(f),
    lastCode(to) {
      const last = [...messages].reverse().find((msg) => msg.to === to);
      const code = last?.body.match(/^(\d{6}) is your Stepwise code$/)?.[1];
      if (!code) throw new Error(`no code texted to ${to} (${messages.length} messages)`);
      return code;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
