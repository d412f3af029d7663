/**
 * Delivery channels, built once from the configuration: the SMS sender (twilio | console | off) and the
 * development outbox the console transports write to. Later channels (account e-mails) plug in here.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import { AppError } from '../errors/index.js';
import { DevOutbox } from './outbox.js';
import { ConsoleSms, TwilioSms, type SmsSender } from './sms.js';

export { DevOutbox, type OutboxMessage, type OutboxChannel } from './outbox.js';
export { ConsoleSms, TwilioSms, twilioError, type SmsSender } from './sms.js';

/** SMS_TRANSPORT=off (the production default): nothing is sent, and the user is told to use another method. */
export class DisabledSms implements SmsSender {
  async send(): Promise<{ id: string }> {
    throw new AppError('sms_failed', 'Text messages are not set up on this server. Use another sign-in method.');
  }
}

export interface Notifier {
  sms: SmsSender;
  /** False when SMS_TRANSPORT=off: the account page does not offer adding a phone number. */
  smsAvailable: boolean;
  /** The development outbox (GET /dev/outbox); undefined unless a console transport runs outside production. */
  outbox: DevOutbox | undefined;
}

export function buildNotifier(config: Config, deps: { log?: Logger; now?: () => number; write?: (line: string) => void } = {}): Notifier {
  const sms = config.sms;
  // One outbox for every console transport (SMS, e-mail), never in production.
  const anyConsole = sms.transport === 'console' || config.mail.transport === 'console';
  const outbox = anyConsole && config.env !== 'production' ? new DevOutbox(100, deps.now) : undefined;
  switch (sms.transport) {
    case 'twilio':
      return {
        sms: new TwilioSms({
          accountSid: sms.accountSid,
          authToken: sms.authToken,
          from: sms.from,
          messagingServiceSid: sms.messagingServiceSid,
          apiBase: sms.apiBase,
          log: deps.log,
        }),
        smsAvailable: true,
        outbox,
      };
    case 'console':
      return { sms: new ConsoleSms({ outbox, write: deps.write }), smsAvailable: true, outbox };
    case 'off':
      return { sms: new DisabledSms(), smsAvailable: false, outbox };
  }
}
