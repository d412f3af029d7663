/**
 * The admin API at /admin/api (JSON): one middleware that matches the route table, authenticates the
 * bearer token (./auth.ts), validates path, query and body with the route's zod schemas and answers
 * problem+json on any error. `/admin/api/openapi.json` is public (it holds no data).
 */
import { Readable } from 'node:stream';
import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import { z } from 'zod';
import type { Container } from '../../container.js';
import { AppError } from '../../errors/index.js';
import { authenticate } from './auth.js';
import { fromZod, sendProblem, writeProblem } from './problem.js';
import { ROUTES, type RouteDef } from './routes.js';
import { openApiDocument } from './openapi.js';
import { installSecretOverlap } from '../secret-overlap.js';
import { runOnBehalfOfUsers } from '../../i18n/context.js';

export const ADMIN_API_PREFIX = '/admin/api';
const emptyQuery = z.object({}).strict();

interface Compiled {
  route: RouteDef;
  segments: string[];
}

const compiled: Compiled[] = ROUTES.map((route) => ({ route, segments: route.path.split('/').slice(1) }));

function match(path: string): { found: Compiled[]; params: Map<Compiled, Record<string, string>> } {
  const parts = path.split('/').slice(1);
  const found: Compiled[] = [];
  const params = new Map<Compiled, Record<string, string>>();
  for (const c of compiled) {
    if (c.segments.length !== parts.length) continue;
    const p: Record<string, string> = {};
    const ok = c.segments.every((seg, i) => {
      const m = /^\{(\w+)\}$/.exec(seg);
      if (!m) return seg === parts[i];
      try {
        p[m[1]!] = decodeURIComponent(parts[i]!);
      } catch {
        return false;
      }
      return p[m[1]!] !== '';
    });
    if (ok) {
      found.push(c);
      params.set(c, p);
    }
  }
  return { found, params };
}

const parseJson = bodyParser({ enableTypes: ['json'], jsonLimit: '64kb', encoding: 'utf-8', jsonStrict: true });

async function readBody(ctx: Context): Promise<unknown> {
  const hasBody = Number(ctx.get('content-length') || 0) > 0 || ctx.get('transfer-encoding') !== '';
  if (!hasBody) return undefined;
  if (!ctx.is('application/json', '+json')) throw new AppError('unsupported_media_type', 'send the body as application/json');
  try {
    await parseJson(ctx, async () => undefined);
  } catch (err) {
    const status = (err as { status?: number }).status;
    if (status === 413) throw new AppError('payload_too_large');
    throw new AppError('invalid_request', 'the body is not valid JSON', undefined, { cause: err });
  }
  return (ctx.request as { body?: unknown }).body;
}

/** Query values as strings; a repeated parameter is bad input (none of ours is a list). */
function singleQuery(ctx: Context): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(ctx.query)) {
    if (Array.isArray(v)) throw new AppError('invalid_form', `${k}: give it once`, k);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

export function adminApi(c: Container) {
  // Client secret overlap after a rotation (src/admin/clients.ts) is checked inside oidc-provider's client auth.
  installSecretOverlap(c.provider, { db: c.db, box: c.box, now: c.now });
  return async function adminApiRoutes(ctx: Context, next: Next) {
    if (ctx.path !== ADMIN_API_PREFIX && !ctx.path.startsWith(`${ADMIN_API_PREFIX}/`)) return next();
    ctx.set('Cache-Control', 'no-store');
    try {
      // Mails an admin's action sends (a reset link, a notice) go out in the user's language, not the admin's.
      await runOnBehalfOfUsers(() => handle(c, ctx));
    } catch (err) {
      sendProblem(ctx, err, c.log);
    }
  };
}

async function handle(c: Container, ctx: Context): Promise<void> {
  const path = ctx.path.slice(ADMIN_API_PREFIX.length) || '/';
  if (path === '/openapi.json' && (ctx.method === 'GET' || ctx.method === 'HEAD')) {
    ctx.body = openApiDocument(c.config.issuer);
    return;
  }
  const { found, params } = match(path);
  if (found.length === 0) throw new AppError('not_found', `no admin API route ${path}`);
  const method = ctx.method === 'HEAD' ? 'get' : ctx.method.toLowerCase();
  const hit = found.find((f) => f.route.method === method);
  if (!hit) {
    ctx.set('Allow', found.map((f) => f.route.method.toUpperCase()).join(', '));
    writeProblem(ctx, 405, 'method_not_allowed', 'Method not allowed', `${ctx.method} is not allowed here`);
    return;
  }
  const { route } = hit;
  // Authentication first: a caller without a token learns nothing about what its input would have done.
  const principal = await authenticate(c.provider, ctx);
  const p = route.params ? route.params.safeParse(params.get(hit)) : { success: true as const, data: {} };
  if (!p.success) throw fromZod(p.error, 'path');
  const q = (route.query ?? emptyQuery).safeParse(singleQuery(ctx));
  if (!q.success) throw fromZod(q.error, 'query');
  let body: unknown;
  if (route.body) {
    const raw = await readBody(ctx);
    const b = route.body.safeParse(raw ?? {});
    if (!b.success) throw fromZod(b.error, 'body');
    body = b.data;
  }
  const out = await route.handler({
    c,
    actor: principal.actor,
    params: p.data as Record<string, string>,
    query: q.data,
    body,
    ifMatch: ctx.get('if-match') || undefined,
    ctx,
  });
  ctx.status = out.status ?? route.response.status;
  if (out.etag) ctx.set('ETag', out.etag);
  if (out.body && typeof out.body === 'object' && Symbol.asyncIterator in out.body) {
    ctx.type = route.response.contentType ?? 'application/octet-stream';
    ctx.body = Readable.from(out.body as AsyncIterable<string>);
    return;
  }
  ctx.body = out.body;
}
