/**
 * The admin API's OAuth scopes. `stepwise:admin` allows everything; `stepwise:admin:read` only GETs. A
 * token carries them only when its client is registered with them (`scope` metadata), which only
 * `clients create --service --scope …` sets — a relying party's user token never qualifies.
 */
export const ADMIN_SCOPE = 'stepwise:admin';
export const ADMIN_READ_SCOPE = 'stepwise:admin:read';
export const ADMIN_SCOPES = [ADMIN_SCOPE, ADMIN_READ_SCOPE] as const;

/**
 * Client metadata (stored by Stepwise, never seen by oidc-provider, which drops unknown properties): the
 * admin that created a service client. Four eyes follows it (src/admin/pending.ts).
 */
export const CREATED_BY_PROPERTY = 'stepwise_created_by';
