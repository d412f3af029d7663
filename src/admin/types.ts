/**
 * Shapes shared by the admin service layer (src/admin/*.ts), which the admin API, the console and the CLI
 * all call: who is acting, a page of results, and the audit helper every write goes through.
 */
import type { Container } from '../container.js';
import { AppError } from '../errors/index.js';

/**
 * The admin behind a call. `id` is what the audit log records as `details.actor` and what four eyes
 * compares: the client_id of an API token, the user id of a console admin, `cli` (or `--admin NAME`).
 */
export interface Actor {
  id: string;
  ip?: string | null;
}

/** The service layer needs the whole container (stores, provider, config); tests pass a real one. */
export type AdminContext = Container;

/** A page of results; pass `next_cursor` back as `cursor` for the next page (null: last page). */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface PageRequest {
  cursor?: string;
  /** 1..200, default 50. */
  limit?: number;
}

export const DEFAULT_PAGE = 50;
export const MAX_PAGE = 200;

export function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw new AppError('invalid_form', `limit must be an integer from 1 to ${MAX_PAGE}`, 'limit');
  return limit;
}

/** Cursors are opaque to callers: base64url JSON of the last item's sort key. */
export function encodeCursor(key: unknown): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor<T>(cursor: string | undefined, check: (v: unknown) => v is T): T | undefined {
  if (cursor === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (check(value)) return value;
  } catch {
    // fall through
  }
  throw new AppError('invalid_form', 'cursor is not valid (pass back a next_cursor unchanged)', 'cursor');
}

/** Records an admin write: `details.actor` names the admin. */
export function auditAdmin(
  c: AdminContext,
  actor: Actor,
  event: { type: string; outcome?: 'success' | 'failure'; userId?: string | null; clientId?: string | null; details?: Record<string, unknown> },
): Promise<void> {
  return c.audit.record({
    type: event.type,
    outcome: event.outcome ?? 'success',
    userId: event.userId ?? null,
    clientId: event.clientId ?? null,
    ip: actor.ip ?? null,
    details: { actor: actor.id, ...event.details },
  });
}

/** The result of a write that four eyes may hold back: either done, or pending a second admin. */
export type Guarded<T> = { status: 'applied'; result: T } | { status: 'pending'; approval: import('./pending.js').PendingActionView };
