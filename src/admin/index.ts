/**
 * The admin service layer: one set of functions behind the admin API (src/admin/api/), the console
 * (src/admin/console/) and the CLI (src/admin/cli.ts). Every write takes the acting admin (`Actor`) and is
 * audited with `details.actor`; reads take only the container. Errors are AppError (not_found, conflict,
 * invalid_form naming the field, forbidden). Writes that four eyes may hold back return `Guarded<T>`:
 * `{ status: 'applied', result }` or `{ status: 'pending', approval }`. See docs/admin-api.md.
 */
export * from './types.js';
export { createUser, createClient, createServiceClient, type CreateClientInput } from './service.js';
export * from './users.js';
export * from './clients.js';
export * from './levels.js';
export * from './keys.js';
export * from './audit-query.js';
export * from './approvals.js';
export * from './recovery.js';
export { checkClientPolicy, lockoutProblem, minimumLevel } from './policy-check.js';
export { ADMIN_SCOPE, ADMIN_READ_SCOPE, ADMIN_SCOPES } from './scopes.js';
