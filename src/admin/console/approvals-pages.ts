/** Console page for four eyes: pending actions, approve or reject (the requester cannot approve their own). */
import type Router from '@koa/router';
import { z } from 'zod';
import type { Container } from '../../container.js';
import { ERRORS, type ErrorCode } from '../../errors/index.js';
import { parseBody } from '../../http/validate.js';
import { approveAction, listApprovals, rejectAction, type PendingActionView, type PendingStatus } from '../approvals.js';
import type { Page } from '../types.js';
import { orShown, shownOnPage, when, type ConsolePages, type ConsoleRequest } from './page.js';
import { requestLocale } from '../../i18n/context.js';

const csrfOnly = z.object({ csrf: z.string() }).strict();
const STATUSES = ['pending', 'executed', 'failed', 'rejected', 'expired', 'approved'] as const satisfies readonly PendingStatus[];
const listQuery = z.object({ status: z.enum([...STATUSES, 'all']).optional(), cursor: z.string().max(500).optional() });
const id = z.string().min(1).max(100).regex(/^[\w-]+$/, 'not a valid id');

export function approvalPages(router: Router, c: Container, pages: ConsolePages) {
  /** Actor ids are user ids (console), client ids (API) or `cli`: show an email where there is one. */
  async function who(actorId: string | null): Promise<string | null> {
    if (!actorId) return null;
    return (await c.users.findById(actorId))?.email ?? actorId;
  }

  /** A failed action's stored English `message` (src/admin/pending.ts), in the page's language. */
  function translatedResult(lang: string, result: unknown): unknown {
    const r = result as { error?: unknown; message?: unknown } | null;
    if (!r || typeof r !== 'object' || typeof r.message !== 'string') return result;
    const code = typeof r.error === 'string' && Object.hasOwn(ERRORS, r.error) ? (r.error as ErrorCode) : undefined;
    // A code's own message is its `errors.<code>` entry; a specific detail is a sentence of the text catalog.
    const message = code && ERRORS[code].message === r.message ? c.i18n.translator(lang)(`errors.${code}`) : c.i18n.sentence(lang, r.message);
    return { ...r, message };
  }

  async function show(req: ConsoleRequest, opts: { error?: string; status?: number } = {}) {
    const read = await orShown({ status: 'pending' as (typeof STATUSES)[number] | 'all', result: { items: [], next_cursor: null } as Page<PendingActionView> }, async () => {
      const query = parseBody(listQuery, req.ctx.query);
      const status = query.status ?? 'pending';
      return { status, result: await listApprovals(c, { ...(status === 'all' ? {} : { status }), cursor: query.cursor, limit: 50 }) };
    });
    const { status, result } = read.value;
    const error = opts.error ?? read.error;
    const lang = await requestLocale();
    const items = await Promise.all(
      result.items.map(async (a) => ({
        ...a,
        // Stored as the requester wrote it (English, src/admin/*.ts): in the page's language.
        summary: c.i18n.sentence(lang, a.summary),
        requestedBy: await who(a.requested_by),
        decidedBy: await who(a.decided_by),
        created: when(a.created_at),
        expires: when(a.expires_at),
        mine: a.requested_by === req.actor.id,
        resultText: a.result === null ? '' : JSON.stringify(translatedResult(lang, a.result)).slice(0, 300),
      })),
    );
    const nextHref = result.next_cursor ? `/admin/approvals?${new URLSearchParams({ status, cursor: result.next_cursor })}` : null;
    await pages.render(req, 'approvals', 'admin/approvals', 'Approvals', { items, status, statuses: ['pending', 'all', ...STATUSES.filter((s) => s !== 'pending')], nextHref, error }, opts.status ?? (error ? 400 : 200));
  }

  router.get('/approvals', pages.page(show));

  function decision(run: (req: ConsoleRequest, approvalId: string) => Promise<string>) {
    return pages.page(async (req) => {
      let notice: string;
      try {
        pages.form(req, csrfOnly);
        notice = await run(req, parseBody(id, req.ctx.params.id) as string);
      } catch (err) {
        if (!shownOnPage(err)) throw err;
        return show(req, { error: err.publicMessage, status: err.status });
      }
      req.ctx.redirect(`/admin/approvals?notice=${encodeURIComponent(notice)}`);
    });
  }

  router.post(
    '/approvals/:id/approve',
    decision(async (req, approvalId) => {
      const done = await approveAction(c, req.actor, approvalId);
      return done.status === 'executed' ? 'Approved and carried out' : `Approved, but the action ${done.status}: ${JSON.stringify(done.result).slice(0, 200)}`;
    }),
  );

  router.post(
    '/approvals/:id/reject',
    decision(async (req, approvalId) => {
      await rejectAction(c, req.actor, approvalId);
      return 'Rejected';
    }),
  );
}
