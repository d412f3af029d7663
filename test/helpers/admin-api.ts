/** Admin API test kit: service clients with real client_credentials tokens, and a small JSON caller. */
import { expect } from 'vitest';
import { createServiceClient } from '../../src/admin/service.js';
import { ROUTES } from '../../src/admin/api/routes.js';
import type { TestServer } from './server.js';

export interface ApiResponse {
  status: number;
  headers: Headers;
  json: any;
  text: string;
}

export interface ServiceCredentials {
  clientId: string;
  secret: string;
}

export async function serviceClient(srv: TestServer, scopes: string[], name?: string): Promise<ServiceCredentials> {
  const c = await createServiceClient(srv.container, { scopes, name });
  return { clientId: c.client_id, secret: c.client_secret };
}

/** POST /token grant_type=client_credentials with client_secret_basic; the raw response. */
export async function tokenResponse(srv: TestServer, creds: ServiceCredentials, scope: string): Promise<Response> {
  return fetch(`${srv.url}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(creds.clientId)}:${encodeURIComponent(creds.secret)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope }),
  });
}

export async function accessToken(srv: TestServer, creds: ServiceCredentials, scope: string): Promise<string> {
  const res = await tokenResponse(srv, creds, scope);
  const body = (await res.json()) as { access_token?: string };
  if (res.status !== 200 || !body.access_token) throw new Error(`token request failed: ${res.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

/** A client with its own token for `scope` (one call). */
export async function adminToken(srv: TestServer, scope = 'stepwise:admin', name?: string): Promise<{ creds: ServiceCredentials; token: string }> {
  const creds = await serviceClient(srv, [scope], name);
  return { creds, token: await accessToken(srv, creds, scope) };
}

export function apiCaller(srv: TestServer) {
  return async function api(
    method: string,
    path: string,
    opts: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
  ): Promise<ApiResponse> {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    let body: string | undefined;
    if (opts.raw !== undefined) body = opts.raw;
    else if (opts.body !== undefined) body = JSON.stringify(opts.body);
    if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
    const res = await fetch(`${srv.url}/admin/api${path}`, { method, headers, body });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, json, text };
  };
}

/** The body matches the documented response schema of METHOD PATH-TEMPLATE (the OpenAPI source). */
export function expectDocumented(method: string, template: string, body: unknown): void {
  const route = ROUTES.find((r) => r.method === method.toLowerCase() && r.path === template);
  if (!route) throw new Error(`no route ${method} ${template}`);
  const parsed = route.response.schema.safeParse(body);
  expect(parsed.success, parsed.success ? '' : `${method} ${template}: ${JSON.stringify(parsed.error.issues[0])}`).toBe(true);
}

export function expectProblem(res: ApiResponse, status: number, code: string, field?: string): void {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.json).toMatchObject({ type: `urn:stepwise:problem:${code}`, status, code, detail: expect.any(String), title: expect.any(String) });
  if (field !== undefined) expect(res.json.field).toBe(field);
}
