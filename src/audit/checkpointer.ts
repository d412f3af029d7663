/**
 * Periodic checkpoints into the log stream: every `everyEvents` events this process records, and every
 * `intervalMs` when events were recorded since the last one. Each is a pino line `audit.checkpoint` carrying
 * the signed checkpoint (and a stored copy). The log stream leaves the database's reach — shipped to a log
 * store, it is what `audit verify --checkpoint` is fed with.
 */
import type { Logger } from 'pino';
import type { Db } from '../store/db.js';
import type { AuditLog } from './log.js';
import type { Checkpoint, CheckpointKeys } from './checkpoint.js';
import { writeCheckpoint } from './store.js';

export interface CheckpointPolicy {
  /** Checkpoint after this many events (0: not by count). */
  everyEvents: number;
  /** And at this interval when anything was recorded since (0: not by time). */
  intervalMs: number;
}

/** The one shape of the log line, so `parseCheckpoints` finds it again. */
export function logCheckpoint(log: Logger, c: Checkpoint): void {
  log.info({ checkpoint: c }, 'audit.checkpoint');
}

export class Checkpointer {
  private pending = 0;
  private running: Promise<Checkpoint | null> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly deps: { db: Db; audit: AuditLog; keys: CheckpointKeys; log: Logger; now: () => number; onWritten?: (c: Checkpoint) => void },
    private readonly policy: CheckpointPolicy,
  ) {}

  start(): this {
    this.unsubscribe = this.deps.audit.onRecord(() => {
      this.pending++;
      if (this.policy.everyEvents > 0 && this.pending >= this.policy.everyEvents) void this.checkpoint().catch(() => undefined);
    });
    if (this.policy.intervalMs > 0) {
      this.timer = setInterval(() => {
        if (this.pending > 0) void this.checkpoint().catch(() => undefined);
      }, this.policy.intervalMs);
      this.timer.unref();
    }
    return this;
  }

  /** Writes one now (one at a time: a call while one is being written waits for that one). */
  checkpoint(): Promise<Checkpoint | null> {
    if (this.running) return this.running;
    const counted = this.pending;
    this.running = writeCheckpoint(this.deps.db, this.deps.keys, 'periodic', this.deps.now(), (c) => logCheckpoint(this.deps.log, c))
      .then((c) => {
        this.deps.onWritten?.(c);
        this.pending = Math.max(0, this.pending - counted);
        return c;
      })
      .catch((err: unknown) => {
        this.deps.log.warn({ err }, 'audit checkpoint failed; retried with the next event');
        return null;
      })
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  /** Stops the timer; a last checkpoint is written when events were recorded since the previous one. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    clearInterval(this.timer);
    if (this.running) await this.running;
    if (this.pending > 0) await this.checkpoint();
  }
}
