/**
 * `GET /auth/<uid>` resumes an interaction. For a uid that does not exist (expired, forged, from another
 * deployment) oidc-provider 9's error path dereferences the missing interaction's parameters and answers
 * 500 (for a client with one registered redirect URI). Answer it here instead, with the same clear error
 * as an unknown interaction page.
 *
 * A finished interaction resumes once: oidc-provider reads it and destroys it later, so parallel resumes
 * (a consent form submitted 50 times at once) would each get an authorization code. The first resume that
 * carries the interaction's resume cookie claims it atomically; the others get the same clear error.
 */
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { randomUUID } from 'node:crypto';
import { AppError } from '../errors/index.js';
import type { KvStore } from '../store/kv.js';

const RESUME = /^\/auth\/([^/]+)$/;
const RESUME_COOKIE = 'stepwise_resume'; // cookies.names.resume in oidc/provider.ts

export function rejectUnknownResumes(provider: Provider, kv?: KvStore) {
  // Every other request passes straight through (no async frame of its own).
  return function resumeGuard(ctx: Context, next: Next) {
    const uid = ctx.method === 'GET' || ctx.method === 'POST' ? RESUME.exec(ctx.path)?.[1] : undefined;
    return uid === undefined ? next() : guard(ctx, next, uid);
  };

  async function guard(ctx: Context, next: Next, uid: string) {
    const interaction = await provider.Interaction.find(uid);
    if (!interaction) throw new AppError('interaction_not_found');
    const ownResume = ctx.cookies.get(RESUME_COOKIE, { signed: true }) === uid;
    if (kv && interaction.result && ownResume && !(await kv.add(`resume:${uid}`, randomUUID(), 3600))) throw new AppError('interaction_not_found');
    return next();
  }
}
