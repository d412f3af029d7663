/**
 * Searching the audit log (read-only; the log itself is src/audit/log.ts): filter by user, client, type
 * (exact, or a prefix ending in `*` such as `factor.*`), outcome and time, newest first, with cursor
 * paging on the log's sequence number — stable while new events are appended. `exportAuditEvents` streams
 * every match as NDJSON (one event per line), oldest first, in bounded batches.
 */
import { z } from 'zod';
import type { Knex } from 'knex';
import { guardStore } from '../errors/index.js';
import { decodeCursor, encodeCursor, pageLimit, type AdminContext, type Page, type PageRequest } from './types.js';

export interface AuditFilter {
  userId?: string;
  clientId?: string;
  /** `session.ended`, or a prefix such as `factor.*`. */
  type?: string;
  outcome?: 'success' | 'failure';
  /** Epoch ms, inclusive. */
  from?: number;
  /** Epoch ms, exclusive. */
  to?: number;
}

export const auditFilterSchema = z
  .object({
    user_id: z.string().min(1).max(64).optional(),
    client_id: z.string().min(1).max(128).optional(),
    type: z.string().min(1).max(64).regex(/^[a-z0-9_.]+\*?$/, 'letters, digits, _ and ., optionally ending in *').optional(),
    outcome: z.enum(['success', 'failure']).optional(),
    from: z.coerce.number().int().min(0).optional(),
    to: z.coerce.number().int().min(0).optional(),
  })
  .strict();

export interface AuditEventView {
  seq: number;
  id: string;
  at: number;
  type: string;
  outcome: 'success' | 'failure';
  user_id: string | null;
  client_id: string | null;
  ip: string | null;
  details: Record<string, unknown>;
  hash: string;
}

const toView = (r: Record<string, unknown>): AuditEventView => ({
  seq: Number(r.seq),
  id: r.id as string,
  at: Number(r.at),
  type: r.type as string,
  outcome: r.outcome as AuditEventView['outcome'],
  user_id: (r.user_id as string | null) ?? null,
  client_id: (r.client_id as string | null) ?? null,
  ip: (r.ip as string | null) ?? null,
  details: JSON.parse(r.details as string) as Record<string, unknown>,
  hash: r.hash as string,
});

function filtered(db: Knex, f: AuditFilter): Knex.QueryBuilder {
  let q = db('audit_events');
  if (f.userId) q = q.where({ user_id: f.userId });
  if (f.clientId) q = q.where({ client_id: f.clientId });
  if (f.outcome) q = q.where({ outcome: f.outcome });
  if (f.type) {
    if (f.type.endsWith('*')) {
      const prefix = f.type.slice(0, -1).replace(/[\\%_]/g, (ch) => `\\${ch}`);
      q = q.whereRaw(`type like ? escape '\\'`, [`${prefix}%`]);
    } else {
      q = q.where({ type: f.type });
    }
  }
  if (f.from !== undefined) q = q.where('at', '>=', f.from);
  if (f.to !== undefined) q = q.where('at', '<', f.to);
  return q;
}

const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;

/** Newest first; `next_cursor` continues with older events. */
export async function queryAuditEvents(c: AdminContext, filter: AuditFilter & PageRequest = {}): Promise<Page<AuditEventView>> {
  const limit = pageLimit(filter.limit);
  const before = decodeCursor(filter.cursor, isSeq);
  const rows = await guardStore(() => {
    let q = filtered(c.db, filter).orderBy('seq', 'desc').limit(limit + 1);
    if (before !== undefined) q = q.where('seq', '<', before);
    return q;
  });
  const items = (rows as Record<string, unknown>[]).slice(0, limit).map(toView);
  const last = items[items.length - 1];
  return { items, next_cursor: rows.length > limit && last ? encodeCursor(last.seq) : null };
}

const EXPORT_BATCH = 500;

/** Every matching event as one NDJSON line (with its trailing newline), oldest first. */
export async function* exportAuditEvents(c: AdminContext, filter: AuditFilter = {}): AsyncGenerator<string> {
  let after = 0;
  for (;;) {
    const rows = (await guardStore(() => filtered(c.db, filter).where('seq', '>', after).orderBy('seq', 'asc').limit(EXPORT_BATCH))) as Record<string, unknown>[];
    for (const r of rows) yield `${JSON.stringify(toView(r))}\n`;
    if (rows.length < EXPORT_BATCH) return;
    after = Number(rows[rows.length - 1]!.seq);
  }
}

/** The API's query parameters (snake_case) → a filter. */
export function auditFilterFrom(query: z.infer<typeof auditFilterSchema>): AuditFilter {
  return {
    ...(query.user_id ? { userId: query.user_id } : {}),
    ...(query.client_id ? { clientId: query.client_id } : {}),
    ...(query.type ? { type: query.type } : {}),
    ...(query.outcome ? { outcome: query.outcome } : {}),
    ...(query.from !== undefined ? { from: query.from } : {}),
    ...(query.to !== undefined ? { to: query.to } : {}),
  };
}
