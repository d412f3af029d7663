/**
 * Key material: the cookie-signing keys and the master key for secrets at rest, from STEPWISE_COOKIE_KEYS +
 * STEPWISE_ENCRYPTION_KEY, else from STEPWISE_SECRETS_FILE; outside production a missing file is generated
 * once (owner-only) next to the database, so restarts keep sessions and encrypted data readable.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors.js';

export interface Secrets {
  /** Keygrip keys for cookie signing; first one signs, all verify. */
  cookieKeys: string[];
  /** 32-byte master key for secrets at rest (HKDF derives the encryption and MAC subkeys); seals new values. */
  encryptionKey: Buffer;
  /** Earlier master keys, during a rotation: they still open old values (`stepwise keys rotate-encryption`). */
  previousEncryptionKeys: Buffer[];
}

/** The variables the key material comes from (validated by the env schema, src/config/index.ts). */
export interface SecretsEnv {
  NODE_ENV: 'development' | 'production' | 'test';
  STEPWISE_SECRETS_FILE?: string;
  STEPWISE_COOKIE_KEYS?: string;
  STEPWISE_ENCRYPTION_KEY?: string;
  STEPWISE_ENCRYPTION_KEY_PREVIOUS?: string;
}

const secretsFileSchema = z.object({
  cookieKeys: z.array(z.string().min(32)).min(1),
  encryptionKey: z.string().min(1),
  previousEncryptionKeys: z.array(z.string().min(1)).optional(),
});

function parseEncryptionKey(raw: string, source: string): Buffer {
  const key = Buffer.from(raw, 'base64');
  if (key.length !== 32) {
    throw new ConfigError(`${source}: encryption key must be 32 bytes, base64-encoded (got ${key.length} bytes)`);
  }
  return key;
}

function parsePreviousKeys(raw: string | undefined, source: string): Buffer[] {
  return (raw ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean)
    .map((k, i) => parseEncryptionKey(k, `${source} (key ${i + 1})`));
}

function generateSecrets(): { cookieKeys: string[]; encryptionKey: string } {
  return {
    cookieKeys: [randomBytes(32).toString('base64url')],
    encryptionKey: randomBytes(32).toString('base64'),
  };
}

/** Cookie keys and the master encryption key, with the earlier master keys of a rotation. */
export function loadSecrets(env: SecretsEnv, dataDir: string): Secrets {
  const { previousEncryptionKeys, ...current } = loadCurrentSecrets(env, dataDir);
  return {
    ...current,
    previousEncryptionKeys: [...previousEncryptionKeys, ...parsePreviousKeys(env.STEPWISE_ENCRYPTION_KEY_PREVIOUS, 'STEPWISE_ENCRYPTION_KEY_PREVIOUS')],
  };
}

function loadCurrentSecrets(env: SecretsEnv, dataDir: string): Secrets {
  if (env.STEPWISE_COOKIE_KEYS && env.STEPWISE_ENCRYPTION_KEY) {
    const cookieKeys = env.STEPWISE_COOKIE_KEYS.split(',').map((k) => k.trim()).filter(Boolean);
    if (cookieKeys.some((k) => k.length < 32)) {
      throw new ConfigError('STEPWISE_COOKIE_KEYS: each comma-separated key must be at least 32 characters');
    }
    return { cookieKeys, encryptionKey: parseEncryptionKey(env.STEPWISE_ENCRYPTION_KEY, 'STEPWISE_ENCRYPTION_KEY'), previousEncryptionKeys: [] };
  }
  if (env.STEPWISE_COOKIE_KEYS || env.STEPWISE_ENCRYPTION_KEY) {
    throw new ConfigError('STEPWISE_COOKIE_KEYS and STEPWISE_ENCRYPTION_KEY must be set together');
  }
  let file = env.STEPWISE_SECRETS_FILE;
  if (!file) {
    if (env.NODE_ENV === 'production') {
      throw new ConfigError(
        'STEPWISE_SECRETS_FILE (or STEPWISE_COOKIE_KEYS + STEPWISE_ENCRYPTION_KEY) is required when NODE_ENV=production',
      );
    }
    // Embedded mode: generate once next to the database so restarts keep sessions and encrypted data readable.
    file = resolve(dataDir, 'secrets.json');
  }
  // Outside production a secrets file that does not exist yet (the default one, or one named explicitly)
  // is generated once; in production it must exist.
  if (!existsSync(file) && env.NODE_ENV !== 'production') {
    // Owner-only: the directory also holds the SQLite database (src/store/db.ts uses the same mode).
    mkdirSync(dirname(resolve(file)), { recursive: true, mode: 0o700 });
    writeFileSync(file, JSON.stringify(generateSecrets(), null, 2), { mode: 0o600, flag: 'wx' });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`STEPWISE_SECRETS_FILE: cannot read ${file}: ${(err as Error).message}`);
  }
  const result = secretsFileSchema.safeParse(parsed);
  if (!result.success) {
    throw new ConfigError(
      `STEPWISE_SECRETS_FILE: ${file} must hold {"cookieKeys": [..32+ chars], "encryptionKey": base64, "previousEncryptionKeys"?: [base64]}`,
    );
  }
  return {
    cookieKeys: result.data.cookieKeys,
    encryptionKey: parseEncryptionKey(result.data.encryptionKey, 'STEPWISE_SECRETS_FILE'),
    previousEncryptionKeys: (result.data.previousEncryptionKeys ?? []).map((k, i) =>
      parseEncryptionKey(k, `STEPWISE_SECRETS_FILE previousEncryptionKeys[${i}]`),
    ),
  };
}
