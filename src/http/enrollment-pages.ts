/**
 * The enrollment pages shared by /account and the sign-in's enroll-then-continue step: step 1 renders the
 * factor's enroll view; step 2 runs the confirmation and, for a wrong TOTP code, re-shows the code form
 * with the error next to the field (the secret is served only once, so the QR page is not shown again).
 */
import type { Context } from 'koa';
import type { Views } from './views.js';
import { wantsJson } from './error-handler.js';
import { AppError } from '../errors/index.js';
import { factorOf, type FactorRegistry, type SecondFactorKind } from '../factors/registry.js';
import type { ViewModel } from '../factors/types.js';

export interface EnrollmentPage {
  views: Views;
  registry: FactorRegistry;
  /** Where step 2 posts. */
  finishAction: string;
  csrfToken: string;
}

export async function renderEnrollPage(ctx: Context, page: EnrollmentPage, kind: SecondFactorKind, model: ViewModel) {
  ctx.type = 'html';
  ctx.body = await page.views.render(`factors/${kind}-enroll`, {
    title: `Add ${factorOf(page.registry, kind).info.label.toLowerCase()}`,
    ...model,
    action: page.finishAction,
    csrf: page.csrfToken,
    error: null,
    alternatives: [],
  });
}

/** Runs the confirmation; false when it rendered the TOTP retry form instead (the caller stops there). */
export async function confirmEnrollment(
  ctx: Context,
  page: EnrollmentPage,
  kind: SecondFactorKind,
  body: Record<string, unknown>,
  confirm: () => Promise<unknown>,
): Promise<boolean> {
  try {
    await confirm();
    return true;
  } catch (err) {
    const retry = kind === 'totp' && !wantsJson(ctx) && err instanceof AppError && (err.code === 'invalid_code' || err.code === 'invalid_form');
    if (!retry) throw err;
    ctx.status = err.status;
    ctx.type = 'html';
    ctx.body = await page.views.render('account/totp-retry', {
      title: 'Add authenticator app',
      action: page.finishAction,
      csrf: page.csrfToken,
      factorId: typeof body.factorId === 'string' ? body.factorId : '',
      error: { message: err.publicMessage, field: 'code' },
    });
    return false;
  }
}
