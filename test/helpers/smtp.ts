/**
 * A local SMTP server (smtp-server + mailparser) that keeps every message it accepts, for tests of the real
 * nodemailer transport. STARTTLS is disabled: smtp-server's built-in certificate has expired (library-notes §11).
 */
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';

export interface ReceivedMail {
  envelope: { from: string; to: string[] };
  mail: ParsedMail;
  /** The parsed plain-text body ('' when none). */
  text: string;
  html: string;
  subject: string;
}

export interface FakeSmtp {
  url: string;
  port: number;
  /** A test server's environment for sending its mail through this relay (SMTP_URL, MAIL_FROM). */
  env: { SMTP_URL: string; MAIL_FROM: string };
  inbox: ReceivedMail[];
  /** Messages to one recipient, oldest first. */
  to(address: string): ReceivedMail[];
  /** Waits until `count` messages reached `address` (deliveries may finish after the HTTP reply). */
  waitFor(address: string, count?: number, timeoutMs?: number): Promise<ReceivedMail[]>;
  /** Makes the next `n` deliveries fail with 451 (a temporary failure). */
  failNext(n: number): void;
  /** Holds every later delivery's reply for `ms` (a slow relay; timing tests). */
  setDelay(ms: number): void;
  close(): Promise<void>;
}

export async function startFakeSmtp(): Promise<FakeSmtp> {
  const inbox: ReceivedMail[] = [];
  let failures = 0;
  let delayMs = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, cb) {
      if (failures > 0) {
        failures -= 1;
        stream.resume();
        stream.on('end', () => cb(Object.assign(new Error('Try again later'), { responseCode: 451 })));
        return;
      }
      const parsed = simpleParser(stream);
      const held = delayMs > 0 ? parsed.then((m) => new Promise<typeof m>((r) => setTimeout(() => r(m), delayMs))) : parsed;
      held.then((mail) => {
        const env = session.envelope;
        inbox.push({
          envelope: { from: env.mailFrom ? env.mailFrom.address : '', to: env.rcptTo.map((r) => r.address) },
          mail,
          text: mail.text ?? '',
          html: typeof mail.html === 'string' ? mail.html : '',
          subject: mail.subject ?? '',
        });
        cb();
      }, cb);
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as { port: number }).port;
  const to = (address: string) => inbox.filter((m) => m.envelope.to.includes(address.toLowerCase()) || m.envelope.to.includes(address));
  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    env: { SMTP_URL: `smtp://127.0.0.1:${port}`, MAIL_FROM: 'Stepwise <no-reply@stepwise.test>' },
    inbox,
    to,
    async waitFor(address, count = 1, timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      while (to(address).length < count) {
        if (Date.now() > until) throw new Error(`expected ${count} mail(s) to ${address}, got ${to(address).length}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return to(address);
    },
    failNext(n) {
      failures = n;
    },
    setDelay(ms) {
      delayMs = ms;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The URLs in a mail's text body. */
export function linksIn(text: string): string[] {
  return [...text.matchAll(/https?:\/\/[^\s<>"')]+/g)].map((m) => m[0]);
}
