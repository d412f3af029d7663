/** Console pages for users: search, one user's factors, sessions and devices; disable/enable, remove a factor, end sessions. */
import type Router from '@koa/router';
import { z } from 'zod';
import type { Container } from '../../container.js';
import { AppError } from '../../errors/index.js';
import { parseBody } from '../../http/validate.js';
import { endUserSessions, getUser, type UserView, listUserDevices, listUserFactors, listUserSessions, removeUserFactors, searchUsers, setUserDisabled } from '../users.js';
import { orShown, shownOnPage, when, type ConsolePages, type ConsoleRequest } from './page.js';
import type { Page } from '../types.js';

const csrfOnly = z.object({ csrf: z.string() }).strict();
const searchQuery = z.object({
  q: z.string().trim().max(200, 'q: at most 200 characters').optional(),
  cursor: z.string().max(500).optional(),
});
const id = z.string().min(1).max(100).regex(/^[\w-]+$/, 'not a valid id');

export function userPages(router: Router, c: Container, pages: ConsolePages) {
  const param = (req: ConsoleRequest, name: string) => parseBody(id, req.ctx.params[name]) as string;

  router.get(
    '/users',
    pages.page(async (req) => {
      const { value, error } = await orShown({ q: undefined as string | undefined, result: { items: [], next_cursor: null } as Page<UserView> }, async () => {
        const query = parseBody(searchQuery, req.ctx.query);
        const q = query.q || undefined;
        return { q, result: await searchUsers(c, { q, cursor: query.cursor, limit: 50 }) };
      });
      const { q, result } = value;
      const nextHref = result.next_cursor ? `/admin/users?${new URLSearchParams({ ...(q ? { q } : {}), cursor: result.next_cursor })}` : null;
      await pages.render(req, 'users', 'admin/users', 'Users', { q: q ?? '', users: result.items.map((u) => ({ ...u, created: when(u.created_at) })), nextHref, error }, error ? 400 : 200);
    }),
  );

  async function showUser(req: ConsoleRequest, userId: string, opts: { error?: string; status?: number } = {}) {
    const user = await getUser(c, userId);
    const [factors, sessions, devices, events] = await Promise.all([
      listUserFactors(c, userId),
      listUserSessions(c, userId),
      listUserDevices(c, userId),
      c.audit.list({ userId, limit: 10 }),
    ]);
    await pages.render(
      req,
      'users',
      'admin/user',
      user.email,
      {
        user,
        self: user.id === req.admin.user.id,
        factors: factors.map((f) => ({ ...f, created: when(f.created_at), lastUsed: when(f.last_used_at) })),
        sessions: sessions.map((s) => ({ ...s, created: when(s.created_at), lastSeen: when(s.last_seen) })),
        devices: devices.map((d) => ({ ...d, lastSeen: when(d.last_seen), rememberedUntil: d.remembered_until ? when(d.remembered_until) : null })),
        events: events.map((e) => ({ at: when(e.at), type: e.type, outcome: e.outcome })),
        error: opts.error ?? null,
      },
      opts.status ?? 200,
    );
  }

  router.get('/users/:id', pages.page(async (req) => showUser(req, param(req, 'id'))));

  /** A write on the user page: refused writes come back to the page with the reason. */
  function userAction(run: (req: ConsoleRequest, userId: string) => Promise<string>) {
    return pages.page(async (req) => {
      const userId = param(req, 'id');
      let notice: string;
      try {
        pages.form(req, csrfOnly);
        notice = await run(req, userId);
      } catch (err) {
        if (!shownOnPage(err) || (err instanceof AppError && err.code === 'not_found' && !(await c.users.findById(userId)))) throw err;
        return showUser(req, userId, { error: err.publicMessage, status: err.status });
      }
      req.ctx.redirect(`/admin/users/${encodeURIComponent(userId)}?notice=${encodeURIComponent(notice)}`);
    });
  }

  router.post(
    '/users/:id/disable',
    userAction(async (req, userId) => {
      // The console's own admin would lock themselves out mid-session; another admin (or the CLI) can.
      if (userId === req.admin.user.id) throw new AppError('forbidden', 'You cannot disable your own account from the console.');
      const r = await setUserDisabled(c, req.actor, userId, true);
      return `User disabled; ${r.sessions_ended ?? 0} session(s) ended`;
    }),
  );

  router.post(
    '/users/:id/enable',
    userAction(async (req, userId) => {
      await setUserDisabled(c, req.actor, userId, false);
      return 'User enabled';
    }),
  );

  router.post(
    '/users/:id/factors/:factorId/remove',
    userAction(async (req, userId) => {
      const r = await removeUserFactors(c, req.actor, userId, { factorId: param(req, 'factorId') });
      return r.status === 'pending' ? 'Removal requested: it takes effect when a second admin approves it' : 'Factor removed';
    }),
  );

  router.post(
    '/users/:id/sessions/:sessionId/end',
    userAction(async (req, userId) => {
      await endUserSessions(c, req.actor, userId, { sessionId: param(req, 'sessionId') });
      return 'Session ended';
    }),
  );

  router.post(
    '/users/:id/sessions/end-all',
    userAction(async (req, userId) => {
      const r = await endUserSessions(c, req.actor, userId);
      return `${r.ended} session(s) ended`;
    }),
  );
}
