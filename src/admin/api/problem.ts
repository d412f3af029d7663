/**
 * RFC 9457 problem details for the admin API: every error is `application/problem+json` with the Stepwise
 * error `code` and, for bad input, the `field` it is about. Zod issues become invalid_form naming the
 * field (dotted path; for an unknown field, its name).
 */
import type { Context } from 'koa';
import type { z } from 'zod';
import { AppError, ERRORS } from '../../errors/index.js';
import { toAppError } from '../../http/error-handler.js';
import { BearerError } from './auth.js';

export const PROBLEM_TYPE = 'urn:stepwise:problem:';

export function fromZod(error: z.ZodError, where: 'body' | 'query' | 'path'): AppError {
  const issue = error.issues[0]!;
  const path = issue.path.map(String);
  const field = issue.code === 'unrecognized_keys' ? [...path, String(issue.keys[0])].join('.') : path.join('.');
  const message = issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message;
  return new AppError('invalid_form', field ? `${field}: ${message}` : `${where}: ${message}`, field || undefined);
}

export function sendProblem(ctx: Context, caught: unknown, log: { error(obj: unknown, msg: string): void }): void {
  const err = toAppError(caught);
  if (err.code === 'internal' || err.code === 'store_unavailable') log.error({ err: caught, path: ctx.path, method: ctx.method }, `admin api request failed: ${err.code}`);
  if (caught instanceof BearerError) ctx.set('WWW-Authenticate', caught.challenge);
  if (err.code === 'too_many_attempts') ctx.set('Retry-After', '60');
  writeProblem(ctx, err.status, err.code, ERRORS[err.code].message, err.publicMessage, err.field);
}

export function writeProblem(ctx: Context, status: number, code: string, title: string, detail: string, field?: string): void {
  ctx.status = status;
  ctx.type = 'application/problem+json';
  ctx.body = { type: `${PROBLEM_TYPE}${code}`, title, status, detail, code, ...(field ? { field } : {}), instance: ctx.path };
}
