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

export async function renderEnrollPage(ctx: Context, page: EnrollmentPage, kind: SecondFactorKind, model: ViewModel, error: AppError | null = null) {
  ctx.type = 'html';
  ctx.body = await page.views.render(`factors/${kind}-enroll`, {
    title: `Add ${factorOf(page.registry, kind).info.label.toLowerCase()}`,
    ...model,
    action: page.finishAction,
    csrf: page.csrfToken,
    error: error ? { message: error.publicMessage, field: error.field ?? 'phone' } : null,
    alternatives: [],
  });
}

/** Errors an enroll page shows next to its form (anything else: the error page, or the sign-in again). */
const SHOWN_ON_FORM = (err: unknown): err is AppError =>
  err instanceof AppError && !['csrf_failed', 'not_authenticated', 'reauth_required', 'forbidden', 'store_unavailable', 'internal'].includes(err.code);

/**
 * Step 1 failed with a message for the form (SMS: an invalid number, a refused send): the factor's enroll
 * view again with the error. False when the error is not one to show there (the caller rethrows).
 */
export async function renderEnrollError(ctx: Context, page: EnrollmentPage, kind: SecondFactorKind, model: ViewModel, err: unknown): Promise<boolean> {
  if (kind !== 'sms' || wantsJson(ctx) || !SHOWN_ON_FORM(err)) return false;
  ctx.status = err.status;
  await renderEnrollPage(ctx, page, kind, model, err);
  return true;
}

/**
 * Runs the confirmation; false when it rendered a retry form instead (the caller stops there): the TOTP
 * code form, or for SMS the enroll page of the pending setup from `retryModel`.
 */
export async function confirmEnrollment(
  ctx: Context,
  page: EnrollmentPage,
  kind: SecondFactorKind,
  body: Record<string, unknown>,
  confirm: () => Promise<unknown>,
  retryModel?: () => Promise<ViewModel>,
): Promise<boolean> {
  try {
    await confirm();
    return true;
  } catch (err) {
    if (kind === 'sms' && retryModel && SHOWN_ON_FORM(err) && (await renderEnrollError(ctx, page, kind, await retryModel(), err))) return false;
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
