/**
 * The admin console (/admin, EJS): dashboard, clients and their policies, users, audit search, pending
 * approvals. Every page goes through the gate in page.ts; every write goes through the admin service layer
 * (src/admin/*.ts) that the API and the CLI call too, so validation, four eyes and auditing are the same.
 */
import Router from '@koa/router';
import type Provider from 'oidc-provider';
import type { Container } from '../../container.js';
import { AppError } from '../../errors/index.js';
import { readSignInCallback } from '../../account/session.js';
import { ADMIN_SIGN_IN } from './session.js';
import { consolePages, safeReturn } from './page.js';
import { bucketActivity, dayAgo, recentAuthEvents } from './activity-chart.js';
import { listApprovals } from '../approvals.js';
import { clientPages } from './clients-pages.js';
import { userPages } from './users-pages.js';
import { auditPages } from './audit-pages.js';
import { approvalPages } from './approvals-pages.js';
import { onBehalfOfUsers } from '../../i18n/context.js';

export function adminConsoleRoutes(c: Container, provider: Provider): Router {
  const router = new Router({ prefix: '/admin' });
  const pages = consolePages(c, provider);
  // Mails an admin's action sends (a reset link, a notice) go out in the user's language, not the admin's.
  router.use(onBehalfOfUsers());

  router.get('/callback', async (ctx) => {
    const { returnTo, error } = readSignInCallback(ctx, ADMIN_SIGN_IN);
    if (error === 'unmet_authentication_requirements') {
      // The console's loa2 could not be reached: the account has no second factor (or none this client accepts).
      ctx.status = 403;
      ctx.type = 'html';
      ctx.body = await c.views.render('admin/denied', { title: 'Admin console', reason: 'no_second_factor', email: null, extraStylesheet: '/assets/admin.css' });
      return;
    }
    if (error) throw new AppError('forbidden', error === 'access_denied' ? 'Sign-in was cancelled.' : 'Sign-in did not complete.');
    ctx.redirect(safeReturn(returnTo));
  });

  router.get(
    '/',
    pages.page(async (req) => {
      const now = c.now();
      const { hours, totals } = bucketActivity(await recentAuthEvents(c.db, dayAgo(now)), now);
      const pending = await listApprovals(c, { status: 'pending', limit: 200 });
      await pages.render(req, 'dashboard', 'admin/dashboard', 'Admin console', { hours, totals, pendingCount: pending.items.length });
    }),
  );

  clientPages(router, c, pages);
  userPages(router, c, pages);
  auditPages(router, c, pages);
  approvalPages(router, c, pages);
  return router;
}
