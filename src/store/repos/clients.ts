import type { Db } from '../db.js';
import { guardStore } from '../../errors/index.js';
import type { SecretBox } from '../../security/crypto.js';

/** SecretBox context of a client's secret (also used by encryption-key rotation). */
export const clientSecretContext = (clientId: string): string => `client:${clientId}`;

export interface ClientRecord {
  client_id: string;
  client_secret?: string;
  first_party: boolean;
  [key: string]: unknown;
}

/**
 * OIDC clients; secrets are encrypted at rest and only decrypted for oidc-provider's client authentication.
 * (The container caches `find` across requests: src/store/shared-cache.ts.)
 */
export class ClientsRepo {
  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
  ) {}

  async find(clientId: string): Promise<ClientRecord | undefined> {
    const row = await guardStore(() => this.db('clients').where({ client_id: clientId }).first());
    if (!row) return undefined;
    const metadata = JSON.parse(row.metadata as string) as Record<string, unknown>;
    return {
      ...metadata,
      client_id: row.client_id as string,
      first_party: Boolean(row.first_party),
      ...(row.secret_enc ? { client_secret: this.box.decryptString(row.secret_enc as string, clientSecretContext(row.client_id as string)) } : {}),
    };
  }

  async count(): Promise<number> {
    const row = await guardStore(() => this.db('clients').count<{ n: number | string }[]>({ n: '*' }).first());
    return Number(row?.n ?? 0);
  }

  async create(record: ClientRecord): Promise<void> {
    const { client_id, client_secret, first_party, ...metadata } = record;
    await guardStore(() =>
      this.db('clients').insert({
        client_id,
        secret_enc: client_secret ? this.box.encrypt(client_secret, clientSecretContext(client_id)) : null,
        metadata: JSON.stringify(metadata),
        first_party,
        created_at: Date.now(),
      }),
    );
  }

  async updateMetadata(clientId: string, patch: Record<string, unknown>): Promise<boolean> {
    return guardStore(() =>
      this.db.transaction(async (trx) => {
        const row = await trx('clients').where({ client_id: clientId }).first();
        if (!row) return false;
        const metadata = { ...(JSON.parse(row.metadata as string) as Record<string, unknown>), ...patch };
        await trx('clients').where({ client_id: clientId }).update({ metadata: JSON.stringify(metadata) });
        return true;
      }),
    );
  }
}
