/**
 * `stepwise risk explain` (what a sign-in would get now, recording nothing) and `stepwise policy check`
 * (validate a candidate policy file, replay the recorded sign-in decisions under it), on real stores.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix, type StoreSetup } from '../helpers/stores.js';
import { totpCode } from '../helpers/account.js';
import { run, UsageError, type CliIo } from '../../src/cli/index.js';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { buildContainer, type Container } from '../../src/container.js';
import { createClient, createUser } from '../../src/admin/service.js';
import { AuditLog } from '../../src/audit/log.js';
import { InvalidPolicyFileError } from '../../src/risk/cli-service.js';
import { verdictDetails } from '../../src/risk/assess.js';
import type { RequestContext } from '../../src/risk/collector.js';
import type { RiskReason } from '../../src/risk/types.js';
import type { FactorContext } from '../../src/factors/types.js';

const PASSWORD = 'a long and memorable passphrase';
const IP = '203.0.113.9';
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
const DAY_MS = 86_400_000;
/** A device cookie value; base64url may start with "-", so the tests pass it as --device-id=VALUE. */
const deviceId = () => randomBytes(32).toString('base64url');
const signalsOf = (reasons: RiskReason[]) => reasons.map((r) => r.signal);
const prompting = (reasons: RiskReason[]) => reasons.filter((r) => r.action === 'prompt_mfa' || r.action === 'require_mfa').map((r) => r.signal);

describe.each(storeMatrix)('risk explain and policy check on $name', (kind) => {
  let stores: StoreSetup;
  let env: Record<string, string>;
  let c: Container;
  let dir: string;
  let clientId: string;
  const tess = { id: '', email: 'tess@example.com' }; // password + TOTP
  const paul = { id: '', email: 'paul@example.com' }; // password only

  beforeAll(async () => {
    stores = await kind.setup();
    env = { ...stores.env, LOG_LEVEL: 'silent', ARGON2_MEMORY_KIB: '7168', ARGON2_TIME_COST: '1' };
    c = await buildContainer({ ...loadConfig(env), logLevel: 'silent' });
    dir = mkdtempSync(join(tmpdir(), 'stepwise-policy-'));
    tess.id = (await createUser(c, { email: tess.email, password: PASSWORD })).id;
    paul.id = (await createUser(c, { email: paul.email, password: PASSWORD })).id;
    const now = Date.now();
    const ctx: FactorContext = { userId: tess.id, userEmail: tess.email, userName: null, scope: `setup-${tess.id}`, now };
    const totp = c.factorService.registry.totp;
    const start = await totp.startEnrollment(ctx, {});
    await totp.finishEnrollment(ctx, { factorId: start.factorId, code: totpCode(start.secret as string, now) });
    clientId = (await createClient(c, { redirectUris: ['https://pay.example/cb'], name: 'Pay' })).client_id;
    await c.clients.updateMetadata(clientId, { stepwise_policy: { sensitive_scopes: ['payments:write'] } });
  });
  afterAll(async () => {
    await c?.close();
    await stores?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function cli(argv: string[]): Promise<any> {
    let written = '';
    const io: CliIo = { env, readStdin: async () => '', write: (t) => (written += t) };
    await run(argv, io);
    return JSON.parse(written);
  }
  const explain = (email: string, ...extra: string[]) => cli(['risk', 'explain', '--email', email, '--ip', IP, '--user-agent', UA, ...extra]);
  const rowCounts = async () => {
    const out: Record<string, number> = {};
    for (const table of ['audit_events', 'devices', 'sign_ins']) out[table] = Number((await c.db(table).count({ n: '*' }).first())!.n);
    return out;
  };
  const policyFile = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it('explain: a new device asks a TOTP user for a second factor, lets a password-only user in, and records nothing', async () => {
    const before = await rowCounts();
    expect(before.audit_events).toBeGreaterThan(0);

    const t = await explain(tess.email, `--device-id=${deviceId()}`);
    expect(t.user).toEqual({ id: tess.id, email: tess.email });
    expect(t.decision).toEqual({ kind: 'step_up', level: 2, bypassRemembered: false });
    expect(prompting(t.reasons)).toContain('new_device');
    expect(t.reasons.find((r: RiskReason) => r.signal === 'new_device')).toEqual({ signal: 'new_device', action: 'prompt_mfa', points: 20, detail: 'new device' });
    expect(t.score).toBe(t.reasons.reduce((n: number, r: RiskReason) => n + r.points, 0));
    expect(t.signals).toMatchObject({ device: { known: false }, network: { prefix: '203.0.113.0/24', known: false }, account: { secondFactors: 1 } });
    expect(t.requirement).toMatchObject({ level: 2, floor: 2, accepted: ['phr', 'loa2'], denied: false });
    expect(t.device).toBe('Chrome on Linux');

    const p = await explain(paul.email);
    expect(p.decision).toEqual({ kind: 'allow' });
    expect(signalsOf(p.reasons)).toContain('new_device'); // scored, but there is no second factor to ask for
    expect(p.signals.account.secondFactors).toBe(0);
    expect(p.requirement).toMatchObject({ level: 1, accepted: ['phr', 'loa2', 'loa1'] });

    expect(await rowCounts()).toEqual(before);
  });

  it('explain --acr raises the requirement; a sensitive scope of --client demands a fresh second factor', async () => {
    const before = await rowCounts();
    const acr = await explain(paul.email, '--acr', 'loa2');
    expect(acr.decision).toEqual({ kind: 'allow' });
    expect(acr.requirement).toMatchObject({ level: 2, floor: 1, accepted: ['phr', 'loa2'] });

    const sensitive = await explain(paul.email, '--scope', 'openid payments:write', '--client', clientId);
    expect(sensitive.decision).toEqual({ kind: 'step_up', level: 2, bypassRemembered: true, maxAgeSeconds: 300 });
    expect(sensitive.reasons.filter((r: RiskReason) => r.action === 'require_mfa').map((r: RiskReason) => r.signal)).toEqual(['sensitive_action']);
    expect(sensitive.signals.request.sensitive).toBe(true);
    expect(sensitive.requirement).toMatchObject({ level: 2, floor: 2, secondFactorWithin: 300 });

    const plain = await explain(paul.email, '--scope', 'openid profile', '--client', clientId);
    expect(plain.decision).toEqual({ kind: 'allow' });
    expect(plain.signals.request.sensitive).toBe(false);
    expect(plain.requirement).not.toHaveProperty('secondFactorWithin');
    expect(await rowCounts()).toEqual(before);
  });

  it('explain rejects unknown users, bad addresses and flags with clear errors', async () => {
    await expect(explain('nobody@example.com')).rejects.toMatchObject({ code: 'not_found', message: 'no user with email nobody@example.com' });
    await expect(cli(['risk', 'explain', '--email', paul.email, '--ip', '203.0.113.999', '--user-agent', UA])).rejects.toMatchObject({
      code: 'invalid_form',
      field: 'ip',
      message: '--ip: not an IPv4 or IPv6 address: 203.0.113.999',
    });
    await expect(cli(['risk', 'explain', '--email', paul.email, '--ip', 'localhost', '--user-agent', UA])).rejects.toMatchObject({ code: 'invalid_form', field: 'ip' });
    await expect(explain(paul.email, '--device-id', 'not-a-cookie')).rejects.toMatchObject({ code: 'invalid_form', field: 'device_id' });
    await expect(explain(paul.email, '--acr', 'loa9')).rejects.toMatchObject({ code: 'invalid_form', message: expect.stringContaining('unknown acr loa9 (known: loa1, loa2, phr)') });
    await expect(explain(paul.email, '--scope', 'payments:write', '--client', 'c_nope')).rejects.toMatchObject({ code: 'not_found', message: 'no client c_nope' });
    await expect(explain(paul.email, '--scope', 'payments:write')).rejects.toBeInstanceOf(UsageError);
    await expect(cli(['risk', 'explain', '--email', paul.email, '--ip', IP])).rejects.toThrow(new UsageError('--user-agent is required'));
    await expect(explain(paul.email, '--bogus')).rejects.toMatchObject({ code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' });
  });

  it('policy check replays the recorded decisions of the last N days under the current policy and the candidate', async () => {
    // Recorded the way the sign-in flow records them: assess, audit, and complete the first sign-in.
    const decide = async (userId: string, device: string) => {
      const a = await c.risk.assess({ ip: IP, userAgent: UA, deviceId: device } satisfies RequestContext, userId, { sensitive: false });
      await c.risk.audit(a!.verdict, { userId, clientId, ip: IP, sso: false });
      return a!.verdict;
    };
    const first = await decide(tess.id, deviceId()); // new device and network: step_up under both
    expect(first.decision.decision.kind).toBe('step_up');
    await c.risk.completed(tess.id, first.observed, { mfa: true, rememberDevice: false, startedAt: Math.floor(Date.now() / 1000) });
    const second = await decide(tess.id, deviceId()); // known network, new device: step_up → allow
    expect(prompting(second.decision.reasons)).toEqual(['new_device']);
    expect((await decide(paul.id, deviceId())).decision.decision.kind).toBe('allow');
    // Forty days ago (outside --days 30), and an event without signals (never replayed).
    const details = { ...verdictDetails(second), sso: false, location: null, device: 'Chrome on Linux' };
    await new AuditLog(c.db, () => Date.now() - 40 * DAY_MS).record({ type: 'risk.decision', outcome: 'success', userId: tess.id, details });
    await c.audit.record({ type: 'risk.decision', outcome: 'success', userId: paul.id, details: { decision: { kind: 'allow' } } });

    const file = policyFile('candidate.yaml', '# candidate: a new device alone no longer prompts\nrisk_based_prompting:\n  new_device: ignore\n');
    const before = await rowCounts();
    const r = await cli(['policy', 'check', file]);
    expect(r).toMatchObject({
      file,
      days: 30,
      events: 3,
      current: { allow: 1, step_up: 2, deny: 0 },
      candidate: { allow: 2, step_up: 1, deny: 0 },
      changedTotal: 1,
      users_changed: 1,
      prompt_rate: { current: 0.6667, candidate: 0.3333 },
      not_replayed: [],
    });
    expect(r.changed).toHaveLength(1);
    expect(r.changed[0]).toMatchObject({ userId: tess.id, email: tess.email, from: 'step_up', to: 'allow' });
    expect(r.changed[0].reasons).toContain('new device');
    expect(Math.abs(Date.parse(r.changed[0].at) - Date.now())).toBeLessThan(60_000);
    expect(r.changed[0].at).toBe(new Date(Date.parse(r.changed[0].at)).toISOString());
    expect(await rowCounts()).toEqual(before); // checking changes nothing

    const wider = await cli(['policy', 'check', file, '--days', '60']);
    expect(wider).toMatchObject({ days: 60, events: 4, current: { step_up: 3 }, candidate: { step_up: 1 }, changedTotal: 2, users_changed: 1 });
    expect(Date.parse(wider.changed[0].at)).toBeGreaterThan(Date.parse(wider.changed[1].at)); // most recent first

    // The current policy against itself changes nothing.
    const same = await cli(['policy', 'check', policyFile('same.yaml', '')]);
    expect(same).toMatchObject({ events: 3, changed: [], changedTotal: 0, users_changed: 0 });
    expect(same.current).toEqual(same.candidate);
  });

  it('explain knows a device once a sign-in completed from it', async () => {
    const device = deviceId();
    const a = await c.risk.assess({ ip: IP, userAgent: UA, deviceId: device }, tess.id, { sensitive: false });
    await c.risk.completed(tess.id, a!.verdict.observed, { mfa: true, rememberDevice: false, startedAt: Math.floor(Date.now() / 1000) });
    const known = await explain(tess.email, `--device-id=${device}`);
    expect(known.signals.device.known).toBe(true);
    expect(signalsOf(known.reasons)).not.toContain('new_device');
    expect(known.decision).toEqual({ kind: 'allow' });
    expect(known.requirement.level).toBe(1);
    expect((await explain(tess.email, `--device-id=${deviceId()}`)).decision.kind).toBe('step_up');
  });

  it('policy check rejects an invalid candidate naming the file, line and key (exit code 2)', async () => {
    const bad = policyFile('bad.yaml', '# candidate\nrisk_based_prompting:\n  new_device: ask\n');
    const err = await cli(['policy', 'check', bad]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidPolicyFileError);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toMatchObject({ exitCode: 2, message: `${bad}:3: risk_based_prompting.new_device: expected one of ignore|prompt_mfa|require_mfa|deny (got "ask")` });

    const typo = policyFile('typo.yaml', 'risk_thresholds:\n  stepup: 30\n');
    await expect(cli(['policy', 'check', typo])).rejects.toMatchObject({ exitCode: 2, message: `${typo}:2: risk_thresholds.stepup: unknown key (did you mean step_up?)` });
    await expect(cli(['policy', 'check', join(dir, 'missing.yaml')])).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/^cannot read .*missing\.yaml/) });
    await expect(cli(['policy', 'check', typo, '--days', '0'])).rejects.toMatchObject({ code: 'invalid_form', field: 'days' });
    await expect(cli(['policy', 'check', typo, '--days', 'week'])).rejects.toMatchObject({ code: 'invalid_form', field: 'days' });
    await expect(cli(['policy', 'check'])).rejects.toBeInstanceOf(UsageError);
  });
});
