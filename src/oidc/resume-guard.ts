/**
 * `GET /auth/<uid>` resumes an interaction. For a uid that does not exist (expired, forged, from another
 * deployment) oidc-provider 9's error path dereferences the missing interaction's parameters and answers
 * 500 (for a client with one registered redirect URI). Answer it here instead, with the same clear error
 * as an unknown interaction page.
 */
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { AppError } from '../errors/index.js';

const RESUME = /^\/auth\/([^/]+)$/;

export function rejectUnknownResumes(provider: Provider) {
  return async function resumeGuard(ctx: Context, next: Next) {
    const uid = ctx.method === 'GET' || ctx.method === 'POST' ? RESUME.exec(ctx.path)?.[1] : undefined;
    if (uid !== undefined && !(await provider.Interaction.find(uid))) throw new AppError('interaction_not_found');
    return next();
  };
}
