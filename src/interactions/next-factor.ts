/**
 * Where a sign-in that still needs a second factor goes next: the method this browser used last, or the
 * only one on offer, straight away; otherwise the chooser (/interaction/:uid/factor). The sign-in flow sends
 * the browser there directly, and the chooser route, reached by a link or a bookmark, decides the same way
 * (`?choose` always shows the list).
 */
import type { Context } from 'koa';
import type { SecondFactorKind } from '../factors/registry.js';

/** Remembers the last second factor a browser passed (httpOnly, half a year). */
export const LAST_FACTOR_COOKIE = 'stepwise_last_factor';

export function rememberLastFactor(ctx: Context, kind: SecondFactorKind): void {
  ctx.cookies.set(LAST_FACTOR_COOKIE, kind, { httpOnly: true, secure: ctx.secure, sameSite: 'lax', maxAge: 180 * 24 * 3600 * 1000, overwrite: true });
}

export function lastFactor(ctx: Context): string | undefined {
  return ctx.cookies.get(LAST_FACTOR_COOKIE);
}

/** The factor to go to without asking, if any: the last one used, when on offer, else the only one offered. */
export function nextFactor(offered: readonly SecondFactorKind[], last: string | undefined): SecondFactorKind | undefined {
  return offered.find((k) => k === last) ?? (offered.length === 1 ? offered[0] : undefined);
}

/** That factor's challenge page, or the chooser when the user has to pick. */
export function nextFactorPath(uid: string, offered: readonly SecondFactorKind[], last: string | undefined): string {
  const next = nextFactor(offered, last);
  return next ? `/interaction/${uid}/factor/${next}` : `/interaction/${uid}/factor`;
}
