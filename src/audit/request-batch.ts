/**
 * Per-request audit batch. Every event a request records is committed together, in one transaction on the
 * audit chain, when the request's handlers are done and before the response is sent — so an answered request
 * has its events stored, as before, at the cost of one chain lock instead of one per event.
 *
 * Durable writes that nothing reads before the request ends may join the same transaction (the sign-in
 * history row, src/store/repos/sign-ins.ts): one commit — on SQLite one fsync — instead of one each, and the
 * row and its audit events are stored together or not at all.
 *
 * Mounted inside the error handler: a store outage while committing becomes the request's precise 503, not a
 * lost event. Work a request leaves running after its response (mail lookups that must not delay the reply)
 * finds the batch closed and commits its events at once.
 */
import type { Context, Next } from 'koa';
import { currentScope, withScopeValue } from '../http/request-scope.js';
import type { AuditLog, DeferredWrite, PendingEvent } from './log.js';

interface Batch {
  open: boolean;
  events: PendingEvent[];
  writes: DeferredWrite[];
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

/** Runs `write` in the request's commit, before its audit events; false when there is none (write it now). */
export function deferToRequestCommit(write: DeferredWrite): boolean {
  const batch = openBatch();
  batch?.writes.push(write);
  return batch !== undefined;
}

export function batchAuditPerRequest(audit: AuditLog) {
  return function auditBatch(_ctx: Context, next: Next) {
    const batch: Batch = { open: true, events: [], writes: [] };
    return withScopeValue('audit', batch, async () => {
      try {
        await next();
      } finally {
        batch.open = false;
        // A failed commit replaces the request's outcome (also an error's): its events must not vanish silently.
        await audit.append(batch.events.splice(0), batch.writes.splice(0));
      }
    });
  };
}
