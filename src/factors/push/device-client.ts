/**
 * The reference device: a small client that behaves like the phone app, behind `stepwise device …` and used
 * by the tests in-process. It keeps its key pairs and credentials in one file (mode 0600) under
 * `$STEPWISE_DEVICE_HOME`, else `$HOME/.stepwise-device`, and talks to the issuer named in the enrollment
 * token over HTTP (the pull endpoint): it never receives FCM messages itself.
 *
 *   enroll TOKEN [--name N] [--fcm-token T]   register a new P-256 key with the server
 *   list                                      enrolled devices and the requests waiting for each
 *   approve --number NN [--challenge ID] [--user-verified]
 *   deny [--challenge ID]
 */
import { generateKeyPairSync, createPrivateKey, type JsonWebKey } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { decodeEnrollmentToken, signAnswer, NUMBER, type ChallengeNotice, type Decision, type PublicJwk } from './protocol.js';

export interface DeviceRecord {
  issuer: string;
  deviceId: string;
  credential: string;
  name: string;
  publicKey: PublicJwk;
  /** The private JWK: it never leaves this file. */
  privateKey: JsonWebKey;
  enrolledAt: string;
}

interface DeviceFile {
  version: 1;
  devices: DeviceRecord[];
}

export class DeviceError extends Error {
  override name = 'DeviceError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export interface DeviceEnv {
  STEPWISE_DEVICE_HOME?: string | undefined;
  HOME?: string | undefined;
}

export function deviceHome(env: DeviceEnv): string {
  return env.STEPWISE_DEVICE_HOME || join(env.HOME || homedir(), '.stepwise-device');
}

function load(env: DeviceEnv): DeviceFile {
  const file = join(deviceHome(env), 'devices.json');
  if (!existsSync(file)) return { version: 1, devices: [] };
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as DeviceFile;
  return { version: 1, devices: Array.isArray(parsed.devices) ? parsed.devices : [] };
}

function save(env: DeviceEnv, data: DeviceFile): void {
  const dir = deviceHome(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'devices.json');
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(data, null, 2), { mode: 0o600 });
  renameSync(tmp, file);
  chmodSync(file, 0o600);
}

async function call(device: { issuer: string; credential?: string }, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (device.credential) headers.authorization = `Bearer ${device.credential}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`${device.issuer}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new DeviceError(`cannot reach ${device.issuer}: ${(err as Error).message}`);
  }
  const data = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) throw new DeviceError(`${device.issuer} refused (${res.status}${typeof data.error === 'string' ? ` ${data.error}` : ''}): ${typeof data.message === 'string' ? data.message : res.statusText}`);
  return data;
}

/** Creates a key pair, registers its public half with the token's issuer, and stores the device. */
export async function enrollDevice(env: DeviceEnv, rawToken: string, opts: { name?: string; fcmToken?: string } = {}) {
  const token = decodeEnrollmentToken(rawToken);
  if (!token) throw new DeviceError('that is not a Stepwise enrollment code (copy it from the account page)');
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pub = publicKey.export({ format: 'jwk' });
  const publicJwk: PublicJwk = { kty: 'EC', crv: 'P-256', x: pub.x!, y: pub.y! };
  const name = opts.name ?? `${hostname().slice(0, 40)} (stepwise device)`;
  const res = await call({ issuer: token.iss }, 'POST', '/push/v1/devices', {
    token: rawToken.trim(),
    publicKey: publicJwk,
    name,
    ...(opts.fcmToken ? { fcmToken: opts.fcmToken } : {}),
  });
  const record: DeviceRecord = {
    issuer: token.iss,
    deviceId: String(res.deviceId),
    credential: String(res.credential),
    name,
    publicKey: publicJwk,
    privateKey: privateKey.export({ format: 'jwk' }),
    enrolledAt: new Date().toISOString(),
  };
  const data = load(env);
  save(env, { ...data, devices: [...data.devices, record] });
  return { enrolled: true, issuer: record.issuer, deviceId: record.deviceId, name, status: res.status, next: 'confirm on the account page (it continues by itself)' };
}

/** Pending requests for one device (GET /push/v1/challenges); a device the server removed lists as revoked. */
async function pendingOf(device: DeviceRecord): Promise<{ challenges: ChallengeNotice[]; error?: string }> {
  try {
    const res = await call(device, 'GET', '/push/v1/challenges');
    return { challenges: (res.challenges as ChallengeNotice[] | undefined) ?? [] };
  } catch (err) {
    return { challenges: [], error: (err as Error).message };
  }
}

export async function listDevices(env: DeviceEnv) {
  const devices = load(env).devices;
  const out = [];
  for (const d of devices) {
    const p = await pendingOf(d);
    out.push({ issuer: d.issuer, deviceId: d.deviceId, name: d.name, enrolledAt: d.enrolledAt, pending: p.challenges, ...(p.error ? { error: p.error } : {}) });
  }
  return { home: deviceHome(env), devices: out };
}

/** Answers the one pending request (or `challengeId`), signed with that device's key, like tapping in the app. */
export async function answerChallenge(
  env: DeviceEnv,
  decision: Decision,
  opts: { number?: string; challengeId?: string; userVerified?: boolean; issuer?: string } = {},
) {
  if (decision === 'approve' && (!opts.number || !NUMBER.test(opts.number))) throw new DeviceError('--number NN is required: the 2-digit number shown on the sign-in page', 64);
  const devices = load(env).devices.filter((d) => !opts.issuer || d.issuer === opts.issuer.replace(/\/$/, ''));
  if (devices.length === 0) throw new DeviceError('no device enrolled here; run `stepwise device enroll TOKEN` first');
  const candidates: Array<{ device: DeviceRecord; challenge: ChallengeNotice }> = [];
  for (const d of devices) for (const c of (await pendingOf(d)).challenges) candidates.push({ device: d, challenge: c });
  const picked = opts.challengeId ? candidates.filter((c) => c.challenge.id === opts.challengeId) : candidates;
  if (picked.length === 0) throw new DeviceError(opts.challengeId ? `no pending request ${opts.challengeId}` : 'no sign-in request is waiting');
  if (picked.length > 1) throw new DeviceError(`${picked.length} requests are waiting; pick one with --challenge ID (see \`stepwise device list\`)`, 64);
  const { device, challenge } = picked[0]!;
  const answer = { challengeId: challenge.id, decision, number: decision === 'approve' ? opts.number! : '', userVerified: opts.userVerified === true };
  const signature = signAnswer(createPrivateKey({ key: device.privateKey, format: 'jwk' }), answer);
  const res = await call(device, 'POST', `/push/v1/challenges/${encodeURIComponent(challenge.id)}`, {
    decision,
    ...(decision === 'approve' ? { number: answer.number } : {}),
    userVerified: answer.userVerified,
    signature,
  });
  return { status: res.status, challenge: challenge.id, client: challenge.client, ip: challenge.ip, location: challenge.location, deviceId: device.deviceId };
}

export const DEVICE_USAGE = `  stepwise device enroll TOKEN [--name N] [--fcm-token T]   (keys in $STEPWISE_DEVICE_HOME or ~/.stepwise-device)
  stepwise device list
  stepwise device approve --number NN [--challenge ID] [--user-verified]
  stepwise device deny [--challenge ID]`;

/** `stepwise device VERB …` → the JSON to print. */
export async function runDeviceCommand(verb: string | undefined, args: string[], env: DeviceEnv): Promise<unknown> {
  if (verb === 'enroll') {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, strict: true, options: { name: { type: 'string' }, 'fcm-token': { type: 'string' } } });
    if (positionals.length !== 1) throw new DeviceError('device enroll takes one TOKEN (from the account page)', 64);
    return enrollDevice(env, positionals[0]!, { name: values.name, fcmToken: values['fcm-token'] });
  }
  if (verb === 'list') {
    parseArgs({ args, strict: true, options: {} });
    return listDevices(env);
  }
  if (verb === 'approve' || verb === 'deny') {
    const { values } = parseArgs({
      args,
      strict: true,
      options: { number: { type: 'string' }, challenge: { type: 'string' }, 'user-verified': { type: 'boolean' }, issuer: { type: 'string' } },
    });
    if (verb === 'deny' && values.number !== undefined) throw new DeviceError('device deny takes no --number', 64);
    return answerChallenge(env, verb, { number: values.number, challengeId: values.challenge, userVerified: values['user-verified'], issuer: values.issuer });
  }
  throw new DeviceError(`unknown command: device ${verb ?? ''}`.trim(), 64);
}
