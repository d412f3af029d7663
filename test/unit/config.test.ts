import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.js';

const dir = () => mkdtempSync(join(tmpdir(), 'stepwise-cfg-'));

describe('loadConfig', () => {
  it('applies defaults and generates embedded secrets once', () => {
    const d = dir();
    const env = { DATABASE_URL: join(d, 'x.sqlite') };
    const a = loadConfig(env);
    expect(a.port).toBe(3000);
    expect(a.issuer).toBe('http://localhost:3000');
    expect(a.database).toEqual({ client: 'sqlite', filename: join(d, 'x.sqlite') });
    expect(a.argon2).toEqual({ memoryCost: 19456, timeCost: 2, parallelism: 1 });
    expect(a.secrets.encryptionKey).toHaveLength(32);
    const b = loadConfig(env);
    expect(b.secrets.cookieKeys).toEqual(a.secrets.cookieKeys);
    expect(b.secrets.encryptionKey.equals(a.secrets.encryptionKey)).toBe(true);
  });

  it('names the variable in one line on a bad value', () => {
    expect(() => loadConfig({ PORT: 'abc' })).toThrow(ConfigError);
    expect(() => loadConfig({ PORT: 'abc' })).toThrow(/^PORT: .*\(got "abc"\)$/);
    expect(() => loadConfig({ REDIS_URL: 'http://x' })).toThrow(/^REDIS_URL:/);
    expect(() => loadConfig({ ARGON2_MEMORY_KIB: '1024' })).toThrow(/^ARGON2_MEMORY_KIB:/);
    expect(() => loadConfig({ STEPWISE_ENCRYPTION_KEY: 'abc', STEPWISE_COOKIE_KEYS: 'x'.repeat(32) })).toThrow(/^STEPWISE_ENCRYPTION_KEY: .*32 bytes/);
  });

  it('refuses to start in production without secrets or with an http issuer', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', ISSUER: 'https://id.example.com', DATABASE_URL: join(dir(), 'x') })).toThrow(
      /STEPWISE_SECRETS_FILE .* required when NODE_ENV=production/,
    );
    const secrets = { STEPWISE_COOKIE_KEYS: 'k'.repeat(32), STEPWISE_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64') };
    expect(() => loadConfig({ NODE_ENV: 'production', ISSUER: 'http://id.example.com', ...secrets })).toThrow(/^ISSUER: must be https/);
    const prod = loadConfig({ NODE_ENV: 'production', ISSUER: 'https://id.example.com', DATABASE_URL: 'postgres://u@db/x', ...secrets });
    expect(prod.demo).toBe(false);
    expect(prod.database.client).toBe('pg');
    expect(prod.webauthn).toEqual({ rpID: 'id.example.com', rpName: 'Stepwise', origin: 'https://id.example.com' });
  });
});

describe('STEPWISE_LEVELS_FILE', () => {
  it('loads a custom level table and rejects a bad one with a clear line', async () => {
    const { writeFileSync } = await import('node:fs');
    const d = dir();
    const good = join(d, 'levels.yaml');
    writeFileSync(good, 'levels:\n  - { acr: basic, level: 1, max_age_seconds: 3600, min_factors: 1 }\n  - { acr: strong, level: 2, max_age_seconds: 600, min_factors: 2, phishing_resistant: true }\n');
    const cfg = loadConfig({ DATABASE_URL: join(d, 'x.sqlite'), STEPWISE_LEVELS_FILE: good });
    expect(cfg.levels.map((l) => l.acr)).toEqual(['basic', 'strong']);
    expect(cfg.levels[1]).toMatchObject({ maxAgeSeconds: 600, minFactors: 2, phishingResistant: true });
    const bad = join(d, 'bad.yaml');
    writeFileSync(bad, 'levels:\n  - { acr: x, level: 1, max_age_seconds: 5, min_factors: 1 }\n');
    expect(() => loadConfig({ DATABASE_URL: join(d, 'x.sqlite'), STEPWISE_LEVELS_FILE: bad })).toThrow(/^STEPWISE_LEVELS_FILE: .*levels\.0\.max_age_seconds/);
  });

  it('defaults follow DESIGN.md with loa1 bound to the session lifetime', () => {
    const cfg = loadConfig({ DATABASE_URL: join(dir(), 'x.sqlite'), SESSION_TTL_SECONDS: '86400' });
    expect(cfg.levels.map((l) => [l.acr, l.level, l.maxAgeSeconds])).toEqual([
      ['loa1', 1, 86400],
      ['loa2', 2, 12 * 3600],
      ['phr', 3, 900],
    ]);
  });
});
