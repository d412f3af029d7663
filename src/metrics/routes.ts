/**
 * Serving /metrics (see src/config/ops.ts for the exposure modes): on the public port behind a bearer token
 * (constant-time compare), open to loopback outside production, or on its own listener.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context, Next } from 'koa';
import type { MetricsExposure } from '../config/ops.js';
import { constantTimeEqual } from '../security/crypto.js';
import type { Metrics } from './registry.js';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;

function bearerOk(header: string | undefined, token: string): boolean {
  const m = /^Bearer +([\x21-\x7e]+)\s*$/i.exec(header ?? '');
  return m !== null && constantTimeEqual(m[1]!, token);
}

/** 'ok', or why the scrape is refused (pure: header, socket address, exposure). */
export function scrapeDecision(req: Pick<IncomingMessage, 'headers'> & { socket: { remoteAddress?: string | undefined } }, exposure: MetricsExposure, onOwnPort: boolean): 'ok' | 'unauthorized' | 'not_found' {
  switch (exposure.mode) {
    case 'off':
      return 'not_found';
    case 'port':
      if (!onOwnPort) return 'not_found';
      return exposure.token && !bearerOk(req.headers.authorization, exposure.token) ? 'unauthorized' : 'ok';
    case 'token':
      return bearerOk(req.headers.authorization, exposure.token) ? 'ok' : 'unauthorized';
    case 'loopback':
      return LOOPBACK.test(req.socket.remoteAddress ?? '') ? 'ok' : 'not_found';
  }
}

/** The public app's /metrics (falls through to a 404 unless this exposure serves it there). */
export function metricsRoute(metrics: Metrics, exposure: MetricsExposure) {
  return async function serveMetrics(ctx: Context, next: Next) {
    if (ctx.path !== '/metrics' || ctx.method !== 'GET') return next();
    const decision = scrapeDecision(ctx.req, exposure, false);
    if (decision === 'not_found') return next();
    (ctx as Context & { _matchedRoute?: string })._matchedRoute = '/metrics';
    ctx.set('Cache-Control', 'no-store');
    if (decision === 'unauthorized') {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer realm="metrics"');
      ctx.body = { error: 'unauthorized', message: 'A bearer token (METRICS_TOKEN) is required.' };
      return;
    }
    const { contentType, body } = await metrics.render();
    ctx.type = contentType;
    ctx.body = body;
  };
}

/** METRICS_PORT: a listener of its own that serves only GET /metrics. */
export async function startMetricsServer(metrics: Metrics, exposure: Extract<MetricsExposure, { mode: 'port' }>): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}');
      return;
    }
    const decision = scrapeDecision(req, exposure, true);
    if (decision !== 'ok') {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer realm="metrics"' }).end('{"error":"unauthorized"}');
      return;
    }
    metrics.render().then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(exposure.port, exposure.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://${exposure.host.includes(':') ? `[${exposure.host}]` : exposure.host}:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
