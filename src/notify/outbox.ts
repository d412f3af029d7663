/**
 * The development outbox: the last messages the console transports "delivered", kept in memory for the
 * page at GET /dev/outbox. One outbox for every channel (SMS now, account e-mails later), so a developer
 * reads every code and link in one place. Only built when a console transport is in use outside
 * production (src/notify/index.ts); never holds anything in a production process.
 */
import { randomUUID } from 'node:crypto';

export type OutboxChannel = 'sms' | 'email';

export interface OutboxMessage {
  id: string;
  channel: OutboxChannel;
  to: string;
  /** E-mail subject; SMS has none. */
  subject?: string;
  body: string;
  /** Epoch milliseconds. */
  at: number;
}

export class DevOutbox {
  private readonly messages: OutboxMessage[] = [];

  constructor(
    private readonly capacity = 100,
    private readonly now: () => number = Date.now,
  ) {}

  add(message: { channel: OutboxChannel; to: string; subject?: string; body: string }): OutboxMessage {
    const stored: OutboxMessage = { id: randomUUID(), ...message, at: this.now() };
    this.messages.push(stored);
    if (this.messages.length > this.capacity) this.messages.splice(0, this.messages.length - this.capacity);
    return stored;
  }

  /** Newest first. */
  list(channel?: OutboxChannel): OutboxMessage[] {
    return this.messages.filter((m) => channel === undefined || m.channel === channel).reverse();
  }
}
