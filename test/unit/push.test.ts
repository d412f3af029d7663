/**
 * Push approval, pure parts and the KV state: the signed canonical form, number matching, expiry, the
 * enrollment token and device-key checks, the configuration, and the one-pending-push slot under races and on
 * a fake clock (SQLite and Redis).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import {
  canonicalAnswer,
  decodeEnrollmentToken,
  encodeEnrollmentToken,
  isLive,
  jwkThumbprint,
  newNumber,
  numberMatches,
  parsePublicJwk,
  signAnswer,
  verifyAnswer,
  type AnswerFields,
  type PublicJwk,
} from '../../src/factors/push/protocol.js';
import { PushState } from '../../src/factors/push/state.js';
import { RedisKv, SqlKv, type KvStore } from '../../src/store/kv.js';
import { loadConfig, ConfigError } from '../../src/config/index.js';
import { storeMatrix } from '../helpers/stores.js';
import { testDb, type TestDb } from '../helpers/db.js';

function keyPair() {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  return { privateKey, jwk: { kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y! } as PublicJwk };
}

const answer: AnswerFields = { challengeId: 'abcdefghijklmnopqrstuv', decision: 'approve', number: '42', userVerified: false };

describe('push answer signature', () => {
  it('signs exactly this canonical string', () => {
    expect(canonicalAnswer(answer)).toBe('stepwise-push-v1\nabcdefghijklmnopqrstuv\napprove\n42\nno-uv');
    expect(canonicalAnswer({ ...answer, decision: 'deny', number: '', userVerified: true })).toBe('stepwise-push-v1\nabcdefghijklmnopqrstuv\ndeny\n\nuv');
  });

  it('refuses fields that could make the string ambiguous', () => {
    expect(() => canonicalAnswer({ ...answer, challengeId: 'abcdefghijklmnop\napprove' })).toThrow(/challenge id/);
    expect(() => canonicalAnswer({ ...answer, number: '' })).toThrow(/number/);
    expect(() => canonicalAnswer({ ...answer, number: '4\n2' })).toThrow(/number/);
    expect(() => canonicalAnswer({ ...answer, decision: 'maybe' as 'approve' })).toThrow(/decision/);
  });

  it('verifies an ES256 (raw r||s) signature by the device key, and nothing else', () => {
    const { privateKey, jwk } = keyPair();
    const sig = signAnswer(privateKey, answer);
    expect(Buffer.from(sig, 'base64url')).toHaveLength(64);
    expect(verifyAnswer(jwk, answer, sig)).toBe(true);
    // Any other field value, another key, or a mangled signature fails.
    expect(verifyAnswer(jwk, { ...answer, number: '43' }, sig)).toBe(false);
    expect(verifyAnswer(jwk, { ...answer, decision: 'deny', number: '' }, sig)).toBe(false);
    expect(verifyAnswer(jwk, { ...answer, userVerified: true }, sig)).toBe(false);
    expect(verifyAnswer(jwk, { ...answer, challengeId: 'abcdefghijklmnopqrstuw' }, sig)).toBe(false);
    expect(verifyAnswer(keyPair().jwk, answer, sig)).toBe(false);
    const flipped = Buffer.from(sig, 'base64url');
    flipped[10] = flipped[10]! ^ 1;
    expect(verifyAnswer(jwk, answer, flipped.toString('base64url'))).toBe(false);
    expect(verifyAnswer(jwk, answer, 'not base64url!')).toBe(false);
    expect(verifyAnswer(jwk, answer, '')).toBe(false);
    // DER-encoded ECDSA (what a naive client produces) is not the wire format.
    const der = sign('sha256', Buffer.from(canonicalAnswer(answer)), privateKey).toString('base64url');
    expect(verifyAnswer(jwk, answer, der)).toBe(false);
    // A challenge id that cannot be canonicalised never verifies (no throw).
    expect(verifyAnswer(jwk, { ...answer, challengeId: 'short' }, sig)).toBe(false);
  });
});

describe('number matching and expiry', () => {
  it('draws 2-digit numbers 10–99 from a CSPRNG', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) seen.add(newNumber());
    for (const n of seen) expect(n).toMatch(/^[1-9][0-9]$/);
    expect(seen.size).toBeGreaterThan(80);
  });

  it('matches only the same 2-digit number', () => {
    expect(numberMatches('42', '42')).toBe(true);
    expect(numberMatches('42', 42)).toBe(true);
    for (const bad of ['24', '042', '4', ' 42', '42 ', '', null, undefined, 42.0001, ['42'], { n: '42' }]) expect(numberMatches('42', bad)).toBe(false);
  });

  it('is live strictly before its expiry', () => {
    expect(isLive(1000, 999)).toBe(true);
    expect(isLive(1000, 1000)).toBe(false);
    expect(isLive(1000, 1001)).toBe(false);
    expect(isLive(Number.NaN, 0)).toBe(false);
  });
});

describe('enrollment token and device key', () => {
  it('carries the issuer and a 256-bit secret, and rejects anything else', () => {
    const t = 'Q'.repeat(43);
    const token = encodeEnrollmentToken({ iss: 'https://id.example.com', t });
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeEnrollmentToken(`  ${token}\n`)).toEqual({ iss: 'https://id.example.com', t });
    expect(decodeEnrollmentToken(encodeEnrollmentToken({ iss: 'http://localhost:3000/', t }))?.iss).toBe('http://localhost:3000');
    expect(decodeEnrollmentToken(encodeEnrollmentToken({ iss: 'ftp://x.example', t }))).toBeNull();
    expect(decodeEnrollmentToken(encodeEnrollmentToken({ iss: 'https://id.example.com', t: 'short' }))).toBeNull();
    expect(decodeEnrollmentToken('not a token')).toBeNull();
    expect(decodeEnrollmentToken(Buffer.from('{"iss":1}').toString('base64url'))).toBeNull();
    expect(decodeEnrollmentToken(42)).toBeNull();
  });

  it('accepts a P-256 public JWK only (never a private key, another curve, or a point off the curve)', () => {
    const { jwk } = keyPair();
    expect(parsePublicJwk({ ...jwk, kid: 'x', use: 'sig' })).toEqual(jwk);
    const { privateKey } = keyPair();
    expect(parsePublicJwk(privateKey.export({ format: 'jwk' }))).toBeNull();
    expect(parsePublicJwk({ ...jwk, crv: 'P-384' })).toBeNull();
    expect(parsePublicJwk({ ...jwk, kty: 'RSA' })).toBeNull();
    expect(parsePublicJwk({ ...jwk, y: jwk.x })).toBeNull();
    expect(parsePublicJwk({ ...jwk, x: 'AAAA' })).toBeNull();
    expect(parsePublicJwk('{"kty":"EC"}')).toBeNull();
    // The RFC 7638 thumbprint ignores member order and extra members.
    expect(jwkThumbprint({ y: jwk.y, x: jwk.x, crv: 'P-256', kty: 'EC' } as PublicJwk)).toBe(jwkThumbprint(jwk));
    expect(jwkThumbprint(jwk)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

describe('push configuration', () => {
  const base = { STEPWISE_COOKIE_KEYS: 'k'.repeat(40), STEPWISE_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'), DATABASE_URL: ':memory:' };

  it('defaults to the pull transport, 5 pushes an hour and a 15-minute cool-down', () => {
    expect(loadConfig(base).push).toEqual({ transport: 'pull', credentialsFile: undefined, projectId: undefined, maxPerHour: 5, denyCooldownSeconds: 900 });
  });

  it('PUSH_TRANSPORT=firebase needs a service-account file', () => {
    expect(() => loadConfig({ ...base, PUSH_TRANSPORT: 'firebase' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, PUSH_TRANSPORT: 'firebase' })).toThrow(/FIREBASE_CREDENTIALS: PUSH_TRANSPORT=firebase needs/);
    const dir = mkdtempSync(join(tmpdir(), 'stepwise-fb-'));
    expect(() => loadConfig({ ...base, PUSH_TRANSPORT: 'firebase', FIREBASE_CREDENTIALS: join(dir, 'missing.json') })).toThrow(/cannot read/);
    writeFileSync(join(dir, 'user.json'), JSON.stringify({ type: 'authorized_user', client_id: 'x' }));
    expect(() => loadConfig({ ...base, PUSH_TRANSPORT: 'firebase', FIREBASE_CREDENTIALS: join(dir, 'user.json') })).toThrow(/not a service-account key file/);
    writeFileSync(join(dir, 'sa.json'), JSON.stringify({ type: 'service_account', project_id: 'demo-project', client_email: 'a@b', private_key: 'k' }));
    expect(loadConfig({ ...base, PUSH_TRANSPORT: 'firebase', FIREBASE_CREDENTIALS: join(dir, 'sa.json') }).push).toMatchObject({ transport: 'firebase', projectId: 'demo-project' });
    expect(() => loadConfig({ ...base, PUSH_TRANSPORT: 'apns' })).toThrow(/PUSH_TRANSPORT/);
    expect(() => loadConfig({ ...base, PUSH_MAX_PER_HOUR: '0' })).toThrow(/PUSH_MAX_PER_HOUR/);
  });
});

describe.each(storeMatrix)('push state on $name', (kind) => {
  let t: TestDb;
  let kv: KvStore;
  let redis: Redis | undefined;
  let clock = Date.now();
  let state: PushState;

  beforeAll(async () => {
    t = await testDb(kind);
    if (kind.name === 'sqlite') kv = new SqlKv(t.db, () => clock);
    else {
      redis = new Redis(t.env.REDIS_URL!);
      kv = new RedisKv(redis, t.env.REDIS_PREFIX);
    }
    state = new PushState(kv);
  });
  afterAll(async () => {
    await redis?.quit();
    await t?.cleanup();
  });

  it('gives the one pending-push slot to exactly one of racing challenges', async () => {
    const ids = Array.from({ length: 8 }, (_, i) => `challenge-${i}-aaaaaaaaaaaa`);
    const won = await Promise.all(ids.map((id) => state.acquireSlot('u-race', id, clock + 120_000, clock)));
    expect(won.filter(Boolean)).toHaveLength(1);
    const winner = ids[won.indexOf(true)]!;
    expect(await state.pendingOf('u-race', clock)).toBe(winner);
    // Only its holder frees it.
    await state.releaseSlot('u-race', ids.find((id) => id !== winner)!, clock);
    expect(await state.pendingOf('u-race', clock)).toBe(winner);
    await state.releaseSlot('u-race', winner, clock);
    expect(await state.pendingOf('u-race', clock)).toBeNull();
    expect(await state.acquireSlot('u-race', 'challenge-next-aaaaaaaa', clock + 120_000, clock)).toBe(true);
  });

  it('frees a slot whose own expiry has passed on the application clock (even while Redis still holds the key)', async () => {
    expect(await state.acquireSlot('u-clock', 'old-challenge-aaaaaaaaa', clock + 120_000, clock)).toBe(true);
    expect(await state.acquireSlot('u-clock', 'new-challenge-aaaaaaaaa', clock + 120_000, clock + 60_000)).toBe(false);
    clock += 121_000;
    expect(await state.pendingOf('u-clock', clock)).toBeNull();
    expect(await state.acquireSlot('u-clock', 'new-challenge-aaaaaaaaa', clock + 120_000, clock)).toBe(true);
    expect(await state.pendingOf('u-clock', clock)).toBe('new-challenge-aaaaaaaaa');
  });

  it('counts sends per hour and cool-downs on the application clock', async () => {
    const start = clock;
    await state.recordSend('u-count', start);
    await state.recordSend('u-count', start + 1000);
    expect(await state.recentSends('u-count', start + 2000)).toHaveLength(2);
    expect(await state.recentSends('u-count', start + 3_600_500)).toHaveLength(1);
    await state.clearSends('u-count');
    expect(await state.recentSends('u-count', start + 2000)).toEqual([]);
    await state.startCooldown('u-count', start, 900);
    expect(await state.cooldownUntil('u-count', start + 899_000)).toBe(start + 900_000);
    expect(await state.cooldownUntil('u-count', start + 900_000)).toBeNull();
  });

  it('KvStore.add on the SQL store of this database (embedded mode, or PostgreSQL without Redis): one winner, expired values replaced', async () => {
    const sql = new SqlKv(t.db, () => clock);
    const won = await Promise.all(Array.from({ length: 6 }, (_, i) => sql.add('add-race', `v${i}`, 60)));
    expect(won.filter(Boolean)).toHaveLength(1);
    expect(await sql.get('add-race')).toBe(`v${won.indexOf(true)}`);
    clock += 61_000;
    expect(await sql.add('add-race', 'later', 60)).toBe(true);
    expect(await sql.get('add-race')).toBe('later');
  });

  it('redeems an enrollment token once', async () => {
    await state.startEnrollment({ id: 'enr-1', userId: 'u1', expiresAt: clock + 600_000 }, 'hash-1', clock);
    const [a, b] = await Promise.all([state.redeemToken('hash-1', clock), state.redeemToken('hash-1', clock)]);
    expect([a, b].filter(Boolean)).toHaveLength(1);
    expect(await state.redeemToken('hash-1', clock)).toBeNull();
  });
});
