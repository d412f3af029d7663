import { mkdtempSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
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
    expect(a.argon2Concurrency).toBe(availableParallelism());
    expect(loadConfig({ ...env, ARGON2_CONCURRENCY: '3' }).argon2Concurrency).toBe(3);
    expect(a.webConcurrency).toBe(1);
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
    expect(() => loadConfig({ WEB_CONCURRENCY: '0' })).toThrow(/^WEB_CONCURRENCY:/);
    expect(() => loadConfig({ ARGON2_CONCURRENCY: '0' })).toThrow(/^ARGON2_CONCURRENCY:/);
    expect(() => loadConfig({ WEB_CONCURRENCY: 'many' })).toThrow(/^WEB_CONCURRENCY:/);
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

describe('configuration errors never echo secrets', () => {
  const key = Buffer.alloc(32, 7).toString('base64');

  it('redacts URL credentials and shows secret variables only by length', () => {
    expect(() => loadConfig({ REDIS_URL: 'http://user:hunter2@cache:6379' })).toThrow(/^REDIS_URL: .*\(got "http:\/\/user:\*\*\*@cache:6379"\)$/);
    expect(() => loadConfig({ REDIS_URL: 'http://user:hunter2@cache:6379' })).not.toThrow(/hunter2/);
    expect(() => loadConfig({ REDIS_URL: 'http://tok3n@cache' })).toThrow(/\(got "http:\/\/\*\*\*@cache"\)/);
    // An empty value means unset (issue 14): the pair is then incomplete.
    expect(() => loadConfig({ STEPWISE_COOKIE_KEYS: '', STEPWISE_ENCRYPTION_KEY: key })).toThrow(/must be set together/);
    expect(() => loadConfig({ NODE_ENV: 'production', ISSUER: 'http://admin:pw@id.example.com' })).toThrow(/\(got "http:\/\/admin:\*\*\*@id\.example\.com"\)$/);
  });

  it('describeRejected: *KEY*, *SECRET*, *TOKEN*, *PASSWORD* never shown', async () => {
    const { describeRejected, redactUrlCredentials } = await import('../../src/config/index.js');
    for (const name of ['STEPWISE_ENCRYPTION_KEY_PREVIOUS', 'API_SECRET', 'SMS_TOKEN', 'DB_PASSWORD', 'STEPWISE_COOKIE_KEYS']) {
      expect(describeRejected(name, 'sensitive-value')).toBe('(got a value of 15 characters)');
    }
    expect(describeRejected('PORT', 'abc')).toBe('(got "abc")');
    expect(describeRejected('PASSWORD_MIN_LENGTH', '4')).toBe('(got "4")');
    expect(describeRejected('STEPWISE_SECRETS_FILE', '/run/s.json')).toBe('(got "/run/s.json")');
    expect(redactUrlCredentials('postgres://user:p@ss:w0rd@db.internal:5432/x?sslmode=require')).toBe('postgres://user:***@db.internal:5432/x?sslmode=require');
    expect(redactUrlCredentials('postgres://db.internal/x')).toBe('postgres://db.internal/x');
    expect(redactUrlCredentials('./data/a@b.sqlite')).toBe('./data/a@b.sqlite');
  });

  it('a bad previous key names the variable without echoing it', () => {
    const env = { DATABASE_URL: join(dir(), 'x.sqlite'), STEPWISE_COOKIE_KEYS: 'k'.repeat(32), STEPWISE_ENCRYPTION_KEY: key };
    expect(() => loadConfig({ ...env, STEPWISE_ENCRYPTION_KEY_PREVIOUS: `${key},c2hvcnQ=` })).toThrow(
      /^STEPWISE_ENCRYPTION_KEY_PREVIOUS \(key 2\): encryption key must be 32 bytes, base64-encoded \(got 5 bytes\)$/,
    );
  });
});

describe('previous encryption keys', () => {
  const current = Buffer.alloc(32, 1);
  const old1 = Buffer.alloc(32, 2);
  const old2 = Buffer.alloc(32, 3);

  it('from STEPWISE_ENCRYPTION_KEY_PREVIOUS (comma-separated), default none', () => {
    const env = { DATABASE_URL: join(dir(), 'x.sqlite'), STEPWISE_COOKIE_KEYS: 'k'.repeat(32), STEPWISE_ENCRYPTION_KEY: current.toString('base64') };
    expect(loadConfig(env).secrets.previousEncryptionKeys).toEqual([]);
    const cfg = loadConfig({ ...env, STEPWISE_ENCRYPTION_KEY_PREVIOUS: ` ${old1.toString('base64')} ,${old2.toString('base64')}` });
    expect(cfg.secrets.encryptionKey.equals(current)).toBe(true);
    expect(cfg.secrets.previousEncryptionKeys.map((k) => k.toString('hex'))).toEqual([old1.toString('hex'), old2.toString('hex')]);
  });

  it('from previousEncryptionKeys in the secrets file', async () => {
    const { writeFileSync } = await import('node:fs');
    const file = join(dir(), 'secrets.json');
    writeFileSync(file, JSON.stringify({ cookieKeys: ['k'.repeat(32)], encryptionKey: current.toString('base64'), previousEncryptionKeys: [old1.toString('base64')] }));
    const cfg = loadConfig({ DATABASE_URL: join(dir(), 'x.sqlite'), STEPWISE_SECRETS_FILE: file });
    expect(cfg.secrets.previousEncryptionKeys.map((k) => k.toString('hex'))).toEqual([old1.toString('hex')]);
    writeFileSync(file, JSON.stringify({ cookieKeys: ['k'.repeat(32)], encryptionKey: current.toString('base64'), previousEncryptionKeys: ['c2hvcnQ='] }));
    expect(() => loadConfig({ DATABASE_URL: join(dir(), 'x.sqlite'), STEPWISE_SECRETS_FILE: file })).toThrow(/previousEncryptionKeys\[0\]: .*32 bytes/);
  });
});

describe('TRUST_PROXY', () => {
  const cfg = (v?: string) => loadConfig({ DATABASE_URL: join(dir(), 'x.sqlite'), ...(v === undefined ? {} : { TRUST_PROXY: v }) }).trustProxy;

  it('false by default; a hop count 1..10; true is a deprecated synonym for 1', () => {
    expect(cfg()).toBe(false);
    expect(cfg('false')).toBe(false);
    expect(cfg('0')).toBe(false);
    expect(cfg('1')).toEqual({ hops: 1 });
    expect(cfg('true')).toEqual({ hops: 1 });
    expect(cfg('10')).toEqual({ hops: 10 });
    expect(() => cfg('11')).toThrow(/^TRUST_PROXY: a hop count must be 1 to 10 \(got "11"\)$/);
  });

  it('a comma-separated list of proxy addresses and CIDRs, IPv4 and IPv6', () => {
    expect(cfg('10.0.0.0/8, ::1,192.168.1.7,FD00::/8')).toEqual({ cidrs: ['10.0.0.0/8', '::1/128', '192.168.1.7/32', 'fd00::/8'] });
    expect(() => cfg('10.0.0.0/8,10.0.0.0/33')).toThrow(/^TRUST_PROXY: "10\.0\.0\.0\/33" is not an IP address or CIDR; .*\(got "10\.0\.0\.0\/8,10\.0\.0\.0\/33"\)$/);
    expect(() => cfg('proxy.internal')).toThrow(/^TRUST_PROXY: "proxy\.internal" is not an IP address or CIDR/);
    expect(() => cfg('yes please')).toThrow(/^TRUST_PROXY:/);
  });
});

describe('REFRESH_TOKEN_MAX_LIFETIME_SECONDS', () => {
  const cfg = (v?: string) => loadConfig({ DATABASE_URL: join(dir(), 'x.sqlite'), ...(v === undefined ? {} : { REFRESH_TOKEN_MAX_LIFETIME_SECONDS: v }) });
  it('defaults to 30 days and is bounded to 1 hour .. 365 days', () => {
    expect(cfg().refreshTokenMaxLifetimeSeconds).toBe(2_592_000);
    expect(cfg('3600').refreshTokenMaxLifetimeSeconds).toBe(3600);
    expect(cfg(String(365 * 86400)).refreshTokenMaxLifetimeSeconds).toBe(365 * 86400);
    expect(() => cfg('3599')).toThrow(/^REFRESH_TOKEN_MAX_LIFETIME_SECONDS: .*\(got "3599"\)$/);
    expect(() => cfg(String(365 * 86400 + 1))).toThrow(/^REFRESH_TOKEN_MAX_LIFETIME_SECONDS:/);
    expect(() => cfg('1.5h')).toThrow(/^REFRESH_TOKEN_MAX_LIFETIME_SECONDS:/);
  });
});

describe('embedded secrets file', () => {
  it('is created 0600 in a directory created 0700', async () => {
    const { statSync } = await import('node:fs');
    const d = join(dir(), 'nested', 'data');
    loadConfig({ DATABASE_URL: join(d, 'x.sqlite') });
    expect(statSync(d).mode & 0o777).toBe(0o700);
    expect(statSync(join(d, 'secrets.json')).mode & 0o777).toBe(0o600);
  });
});

describe('issue 14: empty values and a named secrets file', () => {
  it('an empty value means unset (REDIS_URL= in an .env file)', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'stepwise-cfg-'));
    const c = loadConfig({ REDIS_URL: '', PORT: '', DATABASE_URL: join(dir, 'db.sqlite') });
    expect(c.redisUrl).toBeUndefined();
    expect(c.port).toBe(3000);
  });

  it('an explicit STEPWISE_SECRETS_FILE that does not exist yet is created outside production, refused in production', async () => {
    const { mkdtempSync, existsSync, statSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'stepwise-cfg-'));
    const file = join(dir, 'nested', 'secrets.json');
    const c = loadConfig({ STEPWISE_SECRETS_FILE: file, DATABASE_URL: join(dir, 'db.sqlite') });
    expect(existsSync(file)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(c.secrets.encryptionKey).toHaveLength(32);
    expect(loadConfig({ STEPWISE_SECRETS_FILE: file, DATABASE_URL: join(dir, 'db.sqlite') }).secrets.encryptionKey).toEqual(c.secrets.encryptionKey);
    const missing = join(dir, 'absent.json');
    expect(() => loadConfig({ NODE_ENV: 'production', ISSUER: 'https://id.example.com', STEPWISE_SECRETS_FILE: missing, DATABASE_URL: join(dir, 'db.sqlite') })).toThrow(/cannot read/);
  });
});

describe('ALLOW_PRIVATE_OUTBOUND', () => {
  it('is off by default and refused in production', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'stepwise-cfg-'));
    expect(loadConfig({ DATABASE_URL: join(dir, 'db.sqlite') }).allowPrivateOutbound).toBe(false);
    expect(() =>
      loadConfig({ NODE_ENV: 'production', ISSUER: 'https://id.example.com', ALLOW_PRIVATE_OUTBOUND: 'true', STEPWISE_COOKIE_KEYS: 'k'.repeat(32), STEPWISE_ENCRYPTION_KEY: Buffer.alloc(32).toString('base64') }),
    ).toThrow(/ALLOW_PRIVATE_OUTBOUND: refused when NODE_ENV=production/);
  });
});
