import type { z } from 'zod';
import { AppError } from '../errors/index.js';

/** Parses a request body with zod; the first issue becomes invalid_form naming its field. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const result = schema.safeParse(body ?? {});
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const field = String(issue.path[0] ?? '');
    throw new AppError('invalid_form', field ? `${field}: ${issue.message}` : issue.message, field || undefined);
  }
  return result.data;
}
