/**
 * Console audit search: the form's strings (a user by email or id, times as UTC date-times) become the API's
 * filter, validated by the same schema (auditFilterSchema), and queryAuditEvents pages through the matches.
 */
import type Router from '@koa/router';
import { z } from 'zod';
import type { Container } from '../../container.js';
import { AppError } from '../../errors/index.js';
import { parseBody } from '../../http/validate.js';
import { auditFilterFrom, auditFilterSchema, queryAuditEvents, type AuditEventView } from '../audit-query.js';
import { shownOnPage, when, type ConsolePages } from './page.js';

export interface AuditFormValues {
  user: string;
  client: string;
  type: string;
  outcome: string;
  from: string;
  to: string;
}

const searchForm = z
  .object({
    user: z.string().trim().max(200).default(''),
    client: z.string().trim().max(128).default(''),
    type: z.string().trim().max(64).default(''),
    outcome: z.enum(['', 'success', 'failure']).default(''),
    from: z.string().trim().max(30).default(''),
    to: z.string().trim().max(30).default(''),
    cursor: z.string().max(500).optional(),
  })
  .strict();

const DATE_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?)?$/;

/** A UTC date or date-time from the form (datetime-local sends "2026-12-01T22:30") → epoch ms. */
export function parseUtc(value: string, field: string): number | undefined {
  if (!value) return undefined;
  const ms = DATE_TIME.test(value) ? Date.parse(value.length === 10 ? `${value}T00:00:00Z` : `${value}Z`) : NaN;
  if (!Number.isFinite(ms)) throw new AppError('invalid_form', `${field}: enter a UTC date and time such as 2026-12-01T22:30`, field);
  return ms;
}

/** Short, readable details for the table, less the actor (its own column); the full event is in the API export. */
const detailsText = (e: AuditEventView) => {
  const { actor: _shownAsBy, ...rest } = e.details;
  const text = JSON.stringify(rest);
  return text === '{}' ? '' : text.length > 240 ? `${text.slice(0, 240)}…` : text;
};

export function auditPages(router: Router, c: Container, pages: ConsolePages) {
  router.get(
    '/audit',
    pages.page(async (req) => {
      let form: AuditFormValues = { user: '', client: '', type: '', outcome: '', from: '', to: '' };
      let error: string | null = null;
      let result: Awaited<ReturnType<typeof queryAuditEvents>> = { items: [], next_cursor: null };
      let cursor: string | undefined;
      try {
        const query = parseBody(searchForm, req.ctx.query);
        cursor = query.cursor;
        form = { user: query.user, client: query.client, type: query.type, outcome: query.outcome, from: query.from, to: query.to };
        let userId = form.user || undefined;
        if (userId?.includes('@')) {
          const user = await c.users.findByEmail(userId);
          if (!user) throw new AppError('invalid_form', `user: no user with email ${form.user}`, 'user');
          userId = user.id;
        }
        const filter = parseBody(auditFilterSchema, {
          ...(userId ? { user_id: userId } : {}),
          ...(form.client ? { client_id: form.client } : {}),
          ...(form.type ? { type: form.type } : {}),
          ...(form.outcome ? { outcome: form.outcome } : {}),
          ...(form.from ? { from: parseUtc(form.from, 'from') } : {}),
          ...(form.to ? { to: parseUtc(form.to, 'to') } : {}),
        });
        if (filter.from !== undefined && filter.to !== undefined && filter.from >= filter.to) throw new AppError('invalid_form', 'to: must be later than from', 'to');
        result = await queryAuditEvents(c, { ...auditFilterFrom(filter), cursor, limit: 50 });
      } catch (err) {
        if (!shownOnPage(err)) throw err;
        error = err.publicMessage;
      }
      const emails = new Map<string, string>();
      const ids = result.items.flatMap((e) => [e.user_id, typeof e.details.actor === 'string' ? e.details.actor : null]);
      for (const id of new Set(ids.filter((x): x is string => Boolean(x)))) {
        const u = await c.users.findById(id);
        if (u) emails.set(id, u.email);
      }
      const events = result.items.map((e) => ({
        ...e,
        when: when(e.at),
        user: e.user_id ? (emails.get(e.user_id) ?? e.user_id) : '',
        actor: typeof e.details.actor === 'string' ? (emails.get(e.details.actor) ?? e.details.actor) : null,
        detailsText: detailsText(e),
      }));
      const keep = Object.fromEntries(Object.entries(form).filter(([, v]) => v !== ''));
      const nextHref = result.next_cursor ? `/admin/audit?${new URLSearchParams({ ...keep, cursor: result.next_cursor })}` : null;
      await pages.render(req, 'audit', 'admin/audit', 'Audit log', { form, events, nextHref, firstHref: cursor ? `/admin/audit?${new URLSearchParams(keep)}` : null, error }, error ? 400 : 200);
    }),
  );
}
