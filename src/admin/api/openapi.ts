/**
 * The OpenAPI 3.1 document of the admin API, generated from the route table (./routes.ts) and its zod
 * schemas with zod 4's native z.toJSONSchema (JSON Schema 2020-12, OpenAPI 3.1's dialect). Request bodies
 * and parameters use io 'input' (defaults optional, as a caller sends them), responses 'output'; `$schema`
 * is stripped. Built once per process.
 */
import { z } from 'zod';
import { ROUTES, type RouteDef } from './routes.js';
import { problem } from './schemas.js';
import { ADMIN_READ_SCOPE, ADMIN_SCOPE } from '../scopes.js';

type Json = Record<string, unknown>;

export function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Json {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Json;
  return rest;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad input (invalid JSON, unknown field, wrong type); `field` names it',
  401: 'Missing or invalid access token (see WWW-Authenticate)',
  403: 'The token lacks the scope, or the action is not allowed (e.g. approving your own request)',
  404: 'Unknown id',
  409: 'Conflict: stale If-Match ETag, a concurrent edit, or an already decided approval',
  415: 'The body is not application/json',
};

function parameters(route: RouteDef): Json[] {
  const out: Json[] = [];
  for (const [where, schema] of [['path', route.params], ['query', route.query]] as const) {
    if (!schema) continue;
    const obj = jsonSchema(schema, 'input') as { properties?: Record<string, Json>; required?: string[] };
    for (const [name, prop] of Object.entries(obj.properties ?? {})) {
      out.push({
        name,
        in: where,
        required: where === 'path' || (obj.required ?? []).includes(name),
        schema: prop,
        ...(typeof prop.description === 'string' ? { description: prop.description } : {}),
      });
    }
  }
  if (route.etag && route.method !== 'get') {
    out.push({ name: 'If-Match', in: 'header', required: false, schema: { type: 'string' }, description: 'the ETag last read; a stale one answers 409' });
  }
  return out;
}

function operation(route: RouteDef): Json {
  const write = route.method !== 'get';
  const okHeaders = route.etag ? { headers: { ETag: { schema: { type: 'string' }, description: 'the resource version, for If-Match' } } } : {};
  const responses: Json = {
    [String(route.response.status)]: {
      description: route.response.description ?? 'OK',
      ...okHeaders,
      content: { [route.response.contentType ?? 'application/json']: { schema: jsonSchema(route.response.schema, 'output'), example: route.response.example } },
    },
  };
  if (route.guarded) {
    responses['202'] = {
      description: 'Held for a second admin (four eyes): the pending approval',
      content: { 'application/json': { schema: jsonSchema(route.response.schema, 'output') } },
    };
  }
  const problemSchema = jsonSchema(problem, 'output');
  for (const status of [...new Set([...route.errors, ...(route.body ? [415] : [])])]) {
    responses[String(status)] = { description: STATUS_TEXT[status] ?? 'Error', content: { 'application/problem+json': { schema: problemSchema } } };
  }
  const params = parameters(route);
  return {
    operationId: `${route.method}${route.path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+/g, '_')}`,
    tags: [route.tag],
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    security: [{ oauth2: [write ? ADMIN_SCOPE : ADMIN_READ_SCOPE] }, ...(write ? [] : [{ oauth2: [ADMIN_SCOPE] }])],
    ...(params.length ? { parameters: params } : {}),
    ...(route.body
      ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(route.body, 'input'), example: route.bodyExample } } } }
      : {}),
    responses,
  };
}

let cached: Json | undefined;

export function openApiDocument(issuer: string): Json {
  if (cached && (cached.servers as Array<{ url: string }>)[0]?.url === `${issuer}/admin/api`) return cached;
  const paths: Record<string, Json> = {};
  for (const route of ROUTES) (paths[route.path] ??= {})[route.method] = operation(route);
  cached = {
    openapi: '3.1.0',
    info: {
      title: 'Stepwise admin API',
      version: '1',
      description: 'Users, clients and their assurance policies, levels, signing keys, audit events and four-eyes approvals. See docs/admin-api.md.',
    },
    servers: [{ url: `${issuer}/admin/api` }],
    components: {
      securitySchemes: {
        oauth2: {
          type: 'oauth2',
          description: 'Access tokens from the client_credentials grant of a service client (`stepwise clients create --service --scope stepwise:admin`).',
          flows: {
            clientCredentials: {
              tokenUrl: `${issuer}/token`,
              scopes: { [ADMIN_SCOPE]: 'everything', [ADMIN_READ_SCOPE]: 'read-only (GET)' },
            },
          },
        },
      },
    },
    paths,
  };
  return cached;
}
