/**
 * Per-request audit batch. Every event a request records is committed together, in one transaction on the
 * audit chain, when the request's handlers are done and before the response is sent — so an answered request
 * has its events stored, as before, at the cost of one chain lock instead of one per event.
 *
 * Durable writes that nothing reads before the request ends may join the same transaction (the sign-in
 * history row, src/store/repos/sign-ins.ts; the device record, src/store/repos/devices.ts): one commit — on
 * SQLite one fsync — instead of one each, and the rows and their audit events are stored together or not at
 * all. What must wait for them to be stored (the new-device notice) runs after the commit, never when it failed.
 *
 * Mounted inside the error handler: a store outage while committing becomes the request's precise 503, not a
 * lost event. Work a request leaves running after its response (mail lookups that must not delay the reply)
 * finds the batch closed and commits its events at once.
 */
import type { Context, Next } from 'koa';
import { currentScope, withScopeValue } from '../http/request-scope.js';
import type { AuditLog, DeferredWrite, PendingEvent } from './log.js';
import type { Db } from '../store/db.js';
import { guardStore } from '../errors/index.js';

interface Batch {
  open: boolean;
  events: PendingEvent[];
  writes: DeferredWrite[];
  afterCommit: Array<() => void>;
  /** Keys of `once` writes already in this batch. */
  once: Set<string>;
}

const openBatch = () => {
  const batch = currentScope()?.audit as Batch | undefined;
  return batch?.open ? batch : undefined;
};

/** Adds the event to the current request's open batch; false when there is none (commit it now). */
export function joinRequestBatch(event: PendingEvent): boolean {
  const batch = openBatch();
  batch?.events.push(event);
  return batch !== undefined;
}

/**
 * Runs `write` in the request's commit, before its audit events, and `afterCommit` once that commit has
 * succeeded; false when there is no request batch (write it now).
 */
export function deferToRequestCommit(write: DeferredWrite, afterCommit?: () => void): boolean {
  const batch = openBatch();
  if (!batch) return false;
  batch.writes.push(write);
  if (afterCommit) batch.afterCommit.push(afterCommit);
  return true;
}

/**
 * A durable write that nothing reads before the request ends: in the request's commit when there is a request
 * batch (deferToRequestCommit), else at once on `db`. `afterCommit` runs once it is stored, either way. A write
 * with a `once` key already in the request's batch is not added again (the same idempotent update asked for
 * by two steps of one request).
 */
export async function writeWithRequestCommit(db: Db, write: (db: Db) => Promise<void>, opts: { afterCommit?: () => void; once?: string } = {}): Promise<void> {
  const batch = openBatch();
  if (batch && opts.once !== undefined) {
    if (batch.once.has(opts.once)) return;
    batch.once.add(opts.once);
  }
  if (deferToRequestCommit(write, opts.afterCommit)) return;
  await guardStore(() => write(db));
  opts.afterCommit?.();
}

export function batchAuditPerRequest(audit: AuditLog) {
  return function auditBatch(_ctx: Context, next: Next) {
    const batch: Batch = { open: true, events: [], writes: [], afterCommit: [], once: new Set() };
    return withScopeValue('audit', batch, async () => {
      try {
        await next();
      } finally {
        batch.open = false;
        // A failed commit replaces the request's outcome (also an error's): its events must not vanish silently.
        await audit.append(batch.events.splice(0), batch.writes.splice(0));
        for (const run of batch.afterCommit.splice(0)) run();
      }
    });
  };
}
