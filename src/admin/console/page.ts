/**
 * What every console page shares: the gate (admin role + a two-factor sign-in within 15 minutes, see
 * session.ts), CSRF on every form (scope `admin:<session uid>`, checked before anything else is read from the
 * body), rendering with the console's navigation and stylesheet, and turning a refused write (bad input, a
 * lock-out policy, a conflict, self-approval…) into the same page with the message shown — never a 500.
 */
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { z } from 'zod';
import type { Container } from '../../container.js';
import { AppError } from '../../errors/index.js';
import { parseBody } from '../../http/validate.js';
import type { Actor } from '../types.js';
import { adminAccess, adminSignIn, type AdminSession } from './session.js';
import { requestLocale } from '../../i18n/context.js';

export interface ConsoleRequest {
  ctx: Context;
  admin: AdminSession;
  actor: Actor;
  csrf: string;
}

export type Handler = (req: ConsoleRequest) => Promise<void>;

const NAV = [
  { href: '/admin', label: 'Dashboard', key: 'dashboard' },
  { href: '/admin/clients', label: 'Clients', key: 'clients' },
  { href: '/admin/users', label: 'Users', key: 'users' },
  { href: '/admin/audit', label: 'Audit log', key: 'audit' },
  { href: '/admin/approvals', label: 'Approvals', key: 'approvals' },
] as const;

export type Section = (typeof NAV)[number]['key'];

/** Errors a form can cause that belong on the page (the rest go to the error handler). */
const SHOWN_ON_PAGE = new Set(['invalid_form', 'invalid_request', 'conflict', 'forbidden', 'not_found', 'last_factor']);

export function shownOnPage(err: unknown): err is AppError {
  return err instanceof AppError && SHOWN_ON_PAGE.has(err.code);
}

/** Runs a page's read; a refused query (bad filter, bad cursor) becomes the page's error message instead. */
export async function orShown<T>(fallback: T, read: () => Promise<T>): Promise<{ value: T; error: string | null }> {
  try {
    return { value: await read(), error: null };
  } catch (err) {
    if (!shownOnPage(err)) throw err;
    return { value: fallback, error: err.publicMessage };
  }
}

/** Only console pages (never the API) are places to come back to after signing in. */
export function safeReturn(v: unknown): string {
  return typeof v === 'string' && v.length <= 500 && /^\/admin(\/(?!api(\/|$))[\w\-/]*)?(\?[\w=&%.\-+:~*@,]*)?$/.test(v) ? v : '/admin';
}

export function consolePages(c: Container, provider: Provider) {
  const scope = (s: AdminSession) => `admin:${s.uid}`;

  /** Gate, then the handler. Unauthenticated or stale → the sign-in; non-admins and admins without a second factor → 403 page. */
  function page(handler: Handler) {
    return async (ctx: Context) => {
      const access = await adminAccess(c, provider, ctx);
      if (access.kind === 'sign_in' || access.kind === 'step_up') {
        const returnTo = ctx.method === 'GET' ? safeReturn(ctx.originalUrl) : '/admin';
        return adminSignIn(c, ctx, returnTo, access.kind === 'step_up');
      }
      if (access.kind === 'not_admin' || access.kind === 'no_second_factor') {
        ctx.status = 403;
        ctx.type = 'html';
        ctx.body = await c.views.render('admin/denied', { title: 'Admin console', reason: access.kind, email: access.user.email, extraStylesheet: '/assets/admin.css' });
        return;
      }
      const admin = access.session;
      ctx.set('Cache-Control', 'no-store');
      await handler({ ctx, admin, actor: { id: admin.user.id, ip: ctx.ip }, csrf: c.csrf.token(scope(admin)) });
    };
  }

  /** A form post: the CSRF token first (a missing or wrong one is 403 whatever else the body holds), then zod. */
  function form<S extends z.ZodType>(req: ConsoleRequest, schema: S): z.infer<S> {
    const body = (req.ctx.request.body ?? {}) as Record<string, unknown>;
    c.csrf.assert(scope(req.admin), body.csrf);
    return parseBody(schema, body);
  }

  async function render(req: ConsoleRequest, section: Section, view: string, title: string, model: Record<string, unknown>, status = 200) {
    const { ctx } = req;
    // A notice is a sentence the action built in English (carried in the redirect's query): in the page's language.
    const notice = typeof ctx.query.notice === 'string' ? c.i18n.sentence(await requestLocale(), ctx.query.notice.slice(0, 200)) : null;
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = await c.views.render(view, {
      title,
      extraStylesheet: '/assets/admin.css',
      nav: NAV.map((n) => ({ ...n, current: n.key === section })),
      adminEmail: req.admin.user.email,
      csrf: req.csrf,
      notice,
      error: null,
      ...model,
    });
  }

  return { page, form, render };
}

export type ConsolePages = ReturnType<typeof consolePages>;

/** epoch ms → "2026-12-01 22:48 UTC"-style text for tables. */
export const when = (ms: number | null | undefined): string => (ms ? `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')}` : '—');
