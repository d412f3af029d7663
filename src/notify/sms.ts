/**
 * Text-message delivery, in one place: the `SmsSender` contract, Twilio's Messages API through the real
 * `twilio` SDK, and the console transport of embedded and development setups. Every failure comes out as
 * an AppError with a message a user can act on; operators get the Twilio error code in the log.
 */
import type twilio from 'twilio';
import type TwilioRequestClient from 'twilio/lib/base/RequestClient.js';
import type { Logger } from 'pino';
import { lazy } from '../lazy.js';
import { AppError } from '../errors/index.js';
import type { DevOutbox } from './outbox.js';

/** The SDK loads on first use: most deployments send no SMS through Twilio (start-up time, idle memory). */
const twilioSdk = lazy<typeof twilio>('twilio');

export interface SmsSender {
  /** Sends `body` to `to` (E.164). Resolves with the provider's message id; throws AppError (sms_*) on failure. */
  send(to: string, body: string): Promise<{ id: string }>;
}

/** Prints one line per message to the server's output and keeps it in the development outbox. */
export class ConsoleSms implements SmsSender {
  private sent = 0;

  constructor(
    private readonly opts: { outbox?: DevOutbox; write?: (line: string) => void } = {},
  ) {}

  async send(to: string, body: string): Promise<{ id: string }> {
    // One line per message, whatever the body holds.
    const line = `[sms] to ${to}: ${body.replace(/\s+/g, ' ').trim()}`;
    (this.opts.write ?? ((l: string) => process.stdout.write(`${l}\n`)))(line);
    const stored = this.opts.outbox?.add({ channel: 'sms', to, body });
    this.sent += 1;
    return { id: stored?.id ?? `console-${this.sent}` };
  }
}

export interface TwilioSmsOptions {
  accountSid: string;
  authToken: string;
  /** Sender number (E.164) or alphanumeric sender id; unused when a Messaging Service is set. */
  from?: string;
  messagingServiceSid?: string;
  /**
   * Origin (and optional path prefix) that replaces https://api.twilio.com, e.g. a local server speaking
   * Twilio's REST wire format in tests. The SDK has no base-URL option, so its request client rewrites the URI.
   */
  apiBase?: string;
  timeoutMs?: number;
  log?: Logger;
}

/** Twilio error codes → what the user is told. Codes not listed here are a generic sms_failed. */
const REJECTED_NUMBER: Record<number, string> = {
  21211: 'That phone number is not valid. Check the number and its country code.',
  21214: 'That phone number cannot be reached. Check the number and its country code.',
  21217: 'That phone number is not valid. Check the number and its country code.',
  21265: 'That number cannot receive text messages from us.',
  21408: 'We cannot send text messages to that country.',
  21610: 'That number has opted out of our text messages (reply START to us to opt back in).',
  21612: 'We cannot send text messages to that number.',
  21614: 'That number cannot receive text messages. Use a mobile number.',
};
const RATE_LIMITED = new Set([20429, 14107, 30022]);
/** Our own configuration is wrong: the user can do nothing but use another method; the operator must act. */
const MISCONFIGURED = new Set([20003, 20404, 21212, 21606, 21659, 21703]);

/** Maps what the SDK threw (RestException or a network error) to an AppError. */
export function twilioError(err: unknown, log?: Logger): AppError {
  const e = err as { status?: number; code?: number; message?: string; moreInfo?: string };
  const code = err instanceof twilioSdk().RestException && typeof e.code === 'number' ? e.code : undefined;
  const context = { twilioCode: code, twilioStatus: e?.status, twilioMessage: e?.message, moreInfo: e?.moreInfo };
  if (code !== undefined && REJECTED_NUMBER[code]) {
    log?.info(context, 'sms: twilio rejected the number');
    return new AppError('sms_number_rejected', REJECTED_NUMBER[code], 'phone', { cause: err });
  }
  if ((code !== undefined && RATE_LIMITED.has(code)) || (code === undefined && e?.status === 429)) {
    log?.warn(context, 'sms: twilio rate limit');
    return new AppError('sms_rate_limited', undefined, undefined, { cause: err });
  }
  if (code !== undefined && MISCONFIGURED.has(code)) {
    log?.error(context, 'sms: twilio refused our account configuration (check TWILIO_* settings)');
  } else {
    log?.error({ ...context, err }, 'sms: twilio send failed');
  }
  return new AppError('sms_failed', undefined, undefined, { cause: err });
}

/** The SDK's request client, sending to `apiBase` instead of Twilio's hosts (same path, auth and body). */
function rebasedClient(apiBase: string, timeoutMs: number) {
  const base = new URL(apiBase);
  const prefix = base.pathname.replace(/\/$/, '');
  class RebasedRequestClient extends twilioSdk().RequestClient {
    override request<TData>(opts: TwilioRequestClient.RequestOptions<TData>) {
      const uri = new URL(opts.uri);
      const rebased = new URL(`${prefix}${uri.pathname}${uri.search}`, base.origin);
      return super.request<TData>({ ...opts, uri: rebased.toString() });
    }
  }
  return new RebasedRequestClient({ timeout: timeoutMs, autoRetry: false });
}

export class TwilioSms implements SmsSender {
  private readonly client: twilio.Twilio;

  constructor(private readonly opts: TwilioSmsOptions) {
    if (!opts.from && !opts.messagingServiceSid) throw new Error('TwilioSms needs a sender (from) or a Messaging Service SID');
    const timeout = opts.timeoutMs ?? 10_000;
    this.client = twilioSdk()(opts.accountSid, opts.authToken, {
      autoRetry: false,
      timeout,
      ...(opts.apiBase ? { httpClient: rebasedClient(opts.apiBase, timeout) } : {}),
    });
  }

  async send(to: string, body: string): Promise<{ id: string }> {
    try {
      const message = await this.client.messages.create({
        to,
        body,
        ...(this.opts.messagingServiceSid ? { messagingServiceSid: this.opts.messagingServiceSid } : { from: this.opts.from! }),
      });
      return { id: message.sid };
    } catch (err) {
      throw twilioError(err, this.opts.log);
    }
  }
}
