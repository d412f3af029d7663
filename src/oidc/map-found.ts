/** An adapter whose reads pass through `map` (and whose writes through `beforeSave`): the shape of every decorator. */
import type { Adapter, AdapterPayload } from 'oidc-provider';

type Found = AdapterPayload | undefined;

export function mapFound(
  adapter: Adapter,
  map: (payload: AdapterPayload) => Promise<Found>,
  beforeSave: (payload: AdapterPayload) => AdapterPayload = (p) => p,
): Adapter {
  const read = async (found: Found | void): Promise<Found> => (found ? map(found) : undefined);
  return {
    upsert: (id, payload, expiresIn) => adapter.upsert(id, beforeSave(payload), expiresIn),
    find: async (id) => read(await adapter.find(id)),
    findByUid: async (uid) => read(await adapter.findByUid(uid)),
    findByUserCode: async (code) => read(await adapter.findByUserCode(code)),
    consume: (id) => adapter.consume(id),
    destroy: (id) => adapter.destroy(id),
    revokeByGrantId: (grantId) => adapter.revokeByGrantId(grantId),
  };
}
