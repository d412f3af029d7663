import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/index.js';
import {
  DEFAULT_POLICY_PATH,
  SHIPPED_DEFAULT_POLICY_SHA256,
  formatDuration,
  loadPolicyFile,
  parseCidr,
  parseDuration,
  parsePolicy,
} from '../../src/risk/policy-file.js';
import type { RiskPolicy, SignalName } from '../../src/risk/types.js';

const SIGNALS: SignalName[] = [
  'new_device',
  'new_network',
  'new_location',
  'impossible_travel',
  'session_context_changed',
  'failed_attempts',
  'credential_stuffing',
  'sensitive_action',
  'stale_mfa',
  'deny_listed_network',
  'new_account',
  'push_denied',
];

const DEFAULTS: RiskPolicy = {
  mfaEnforcement: { allUsers: false, gracePeriodSeconds: 30 * 86_400, excludeServiceAccounts: true, everySignIn: false },
  riskBasedPrompting: {
    new_device: 'prompt_mfa',
    new_network: 'prompt_mfa',
    new_location: 'prompt_mfa',
    impossible_travel: 'require_mfa',
    session_context_changed: 'prompt_mfa',
    failed_attempts: 'prompt_mfa',
    credential_stuffing: 'require_mfa',
    sensitive_action: 'require_mfa',
    stale_mfa: 'ignore',
    deny_listed_network: 'deny',
    new_account: 'ignore',
    push_denied: 'require_mfa',
  },
  weights: {
    new_device: 20,
    new_network: 10,
    new_location: 20,
    impossible_travel: 50,
    session_context_changed: 20,
    failed_attempts: 20,
    credential_stuffing: 40,
    sensitive_action: 10,
    stale_mfa: 10,
    deny_listed_network: 100,
    new_account: 10,
    push_denied: 30,
  },
  thresholds: { stepUp: 40, deny: 100 },
  rememberedDeviceDays: 30,
  sensitiveActionMaxAgeSeconds: 300,
  mfaMaxAgeSeconds: 30 * 86_400,
  velocity: { windowSeconds: 900, accountFailures: 5, ipFailures: 20, ipDistinctAccounts: 10 },
  impossibleTravelKmh: 900,
  newAccountSeconds: 86_400,
  networks: { allow: [], deny: [] },
  recovery: { backupCodes: 10, adminRecovery: 'verify_with_id', recoveryTimeoutSeconds: 86_400 },
};

const SEED = `mfa_enforcement:
  all_users: true
  grace_period: 30d
  exclude_service_accounts: true
risk_based_prompting:
  new_device: prompt_mfa
  new_location: prompt_mfa
  sensitive_action: require_mfa
recovery:
  backup_codes: 10
  admin_recovery: verify_with_id
  recovery_timeout: 24h
`;

/** The ConfigError message for `text`, or a failure if it parses. */
function errorOf(text: string, source = 'policy.yaml'): string {
  try {
    parsePolicy(text, source);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error(`expected a ConfigError for:\n${text}`);
}

describe('the shipped default policy', () => {
  it('is found from the package root and parses to the documented defaults', () => {
    expect(DEFAULT_POLICY_PATH).toMatch(/[/\\]policy[/\\]default\.yaml$/);
    expect(loadPolicyFile(undefined)).toStrictEqual(DEFAULTS);
    expect(loadPolicyFile(DEFAULT_POLICY_PATH)).toStrictEqual(DEFAULTS);
  });

  it('is recognised by its hash and not parsed, while any other text is parsed as a policy', () => {
    const text = readFileSync(DEFAULT_POLICY_PATH, 'utf8');
    // The loader skips the YAML parser for exactly these bytes; the shipped file must parse to what it skips to.
    expect(parsePolicy(text, DEFAULT_POLICY_PATH)).toStrictEqual(DEFAULTS);
    expect(
      createHash('sha256').update(text).digest('hex'),
      'policy/default.yaml changed: if it still parses to the built-in defaults, set SHIPPED_DEFAULT_POLICY_SHA256 (src/risk/policy-file.ts) to its new hash',
    ).toBe(SHIPPED_DEFAULT_POLICY_SHA256);
    const dir = mkdtempSync(join(tmpdir(), 'stepwise-policy-'));
    const copy = join(dir, 'same.yaml');
    writeFileSync(copy, text);
    expect(loadPolicyFile(copy)).toStrictEqual(DEFAULTS);
    // One value changed in an otherwise identical file (as an operator editing the shipped file in place would):
    // parsed, and the change takes effect; a broken one is still reported with its line.
    const edited = join(dir, 'edited.yaml');
    expect(text).toMatch(/^  new_device: prompt_mfa/m);
    writeFileSync(edited, text.replace(/^  new_device: prompt_mfa/m, '  new_device: require_mfa'));
    expect(loadPolicyFile(edited)).toStrictEqual({ ...DEFAULTS, riskBasedPrompting: { ...DEFAULTS.riskBasedPrompting, new_device: 'require_mfa' } });
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, text.replace(/^  new_device: prompt_mfa/m, '  new_device: ask'));
    expect(() => loadPolicyFile(broken)).toThrow(/broken\.yaml:\d+: risk_based_prompting\.new_device: expected one of/);
  });

  it('states every key explicitly, with the same values as the built-in defaults', () => {
    expect(parsePolicy('', 'empty.yaml')).toStrictEqual(DEFAULTS);
    expect(parsePolicy('# only a comment\n', 'c.yaml')).toStrictEqual(DEFAULTS);
    const raw = parse(readFileSync(DEFAULT_POLICY_PATH, 'utf8')) as Record<string, Record<string, unknown>>;
    expect(Object.keys(raw).sort()).toEqual(
      [
        'mfa_enforcement',
        'risk_based_prompting',
        'risk_weights',
        'risk_thresholds',
        'remembered_devices',
        'sensitive_action_max_age',
        'mfa_max_age',
        'velocity',
        'impossible_travel_kmh',
        'new_account_age',
        'networks',
        'recovery',
        'admin',
      ].sort(),
    );
    expect(Object.keys(raw.risk_based_prompting!).sort()).toEqual([...SIGNALS].sort());
    expect(Object.keys(raw.risk_weights!).sort()).toEqual([...SIGNALS].sort());
    expect(Object.keys(raw.mfa_enforcement!).sort()).toEqual(['all_users', 'every_sign_in', 'exclude_service_accounts', 'grace_period']);
    expect(Object.keys(raw.velocity!).sort()).toEqual(['account_failures', 'ip_distinct_accounts', 'ip_failures', 'window']);
  });

  it('comments every key', () => {
    const lines = readFileSync(DEFAULT_POLICY_PATH, 'utf8').split('\n');
    let section = '';
    let checked = 0;
    lines.forEach((line, i) => {
      const m = /^(\s*)([a-z_]+):\s*(\S*)/.exec(line);
      if (!m) return;
      if (!m[1]) section = m[2]!;
      const leaf = m[3] !== '';
      // Leaf keys carry their own comment; the weights table and section headers are documented as a block.
      if ((leaf && section !== 'risk_weights') || m[2] === 'risk_weights') {
        expect(lines[i - 1]!.trim().startsWith('#'), `line ${i + 1} (${m[2]}) has no comment above it`).toBe(true);
        checked++;
      }
    });
    expect(checked).toBeGreaterThanOrEqual(30);
  });
});

describe('parsePolicy', () => {
  it('parses the seed design shape unchanged, with defaults for the rest', () => {
    // The seed shape turns enforcement on; everything else equals the shipped defaults.
    expect(parsePolicy(SEED, 'seed.yaml')).toStrictEqual({ ...DEFAULTS, mfaEnforcement: { ...DEFAULTS.mfaEnforcement, allUsers: true } });
    const flow = `mfa_enforcement:   { all_users: false, grace_period: 7d, exclude_service_accounts: false }
risk_based_prompting: { new_device: ignore, new_location: require_mfa, sensitive_action: prompt_mfa }
recovery:          { backup_codes: 12, admin_recovery: disabled, recovery_timeout: 2h }
`;
    const p = parsePolicy(flow, 'flow.yaml');
    expect(p.mfaEnforcement).toStrictEqual({ allUsers: false, gracePeriodSeconds: 7 * 86_400, excludeServiceAccounts: false, everySignIn: false });
    expect(p.riskBasedPrompting).toStrictEqual({ ...DEFAULTS.riskBasedPrompting, new_device: 'ignore', new_location: 'require_mfa', sensitive_action: 'prompt_mfa' });
    expect(p.recovery).toStrictEqual({ backupCodes: 12, adminRecovery: 'disabled', recoveryTimeoutSeconds: 7200 });
    expect(p.weights).toStrictEqual(DEFAULTS.weights);
  });

  it('reads every extended key', () => {
    const p = parsePolicy(
      `mfa_enforcement: { every_sign_in: true }
risk_weights: { new_device: 0, impossible_travel: 100 }
risk_thresholds: { step_up: 30, deny: 90 }
remembered_devices: { days: 0 }
sensitive_action_max_age: 90s
mfa_max_age: 12h
velocity: { window: 600, account_failures: 3, ip_failures: 50, ip_distinct_accounts: 4 }
impossible_travel_kmh: 1200
new_account_age: 7d
networks:
  allow: [192.0.2.0/24, "2001:DB8::/32", 203.0.113.7]
  deny: [198.51.100.0/24, "::ffff:10.0.0.0/104"]
`,
      'x.yaml',
    );
    expect(p.mfaEnforcement.everySignIn).toBe(true);
    expect(p.weights).toStrictEqual({ ...DEFAULTS.weights, new_device: 0, impossible_travel: 100 });
    expect(p.thresholds).toStrictEqual({ stepUp: 30, deny: 90 });
    expect(p.rememberedDeviceDays).toBe(0);
    expect(p.sensitiveActionMaxAgeSeconds).toBe(90);
    expect(p.mfaMaxAgeSeconds).toBe(43_200);
    expect(p.velocity).toStrictEqual({ windowSeconds: 600, accountFailures: 3, ipFailures: 50, ipDistinctAccounts: 4 });
    expect(p.impossibleTravelKmh).toBe(1200);
    expect(p.newAccountSeconds).toBe(7 * 86_400);
    expect(p.networks).toStrictEqual({ allow: ['192.0.2.0/24', '2001:db8::/32', '203.0.113.7/32'], deny: ['198.51.100.0/24', '::ffff:10.0.0.0/104'] });
  });

  it('parses durations', () => {
    expect([parseDuration('30d'), parseDuration('24h'), parseDuration('15m'), parseDuration('90s'), parseDuration(90), parseDuration('90'), parseDuration(0)]).toEqual([
      2_592_000, 86_400, 900, 90, 90, 90, 0,
    ]);
    for (const bad of ['1w', '1.5h', '-5m', '', 'd', '5 minutes', 1.5, -1, true, null]) expect(parseDuration(bad)).toBeNull();
    expect([formatDuration(2_592_000), formatDuration(7200), formatDuration(300), formatDuration(90), formatDuration(0)]).toEqual(['30d', '2h', '5m', '90s', '0s']);
    expect(parsePolicy('mfa_enforcement: { grace_period: 0 }', 'g.yaml').mfaEnforcement.gracePeriodSeconds).toBe(0);
  });

  it('validates CIDRs, IPv4 and IPv6', () => {
    expect(parseCidr('10.0.0.0/8')).toBe('10.0.0.0/8');
    expect(parseCidr('0.0.0.0/0')).toBe('0.0.0.0/0');
    expect(parseCidr('::/0')).toBe('::/0');
    expect(parseCidr('2001:db8::1')).toBe('2001:db8::1/128');
    for (const bad of ['10.0.0.0/33', '2001:db8::/129', '10.0.0/8', '256.0.0.0/8', '10.0.0.0/', '10.0.0.0/08', 'fe80::1%eth0/64', 'example.com/24', '10.0.0.0/8/8', ''])
      expect(parseCidr(bad), bad).toBeNull();
  });
  it('the README section documents the defaults and its example parses to them', () => {
    const readme = readFileSync('README.md', 'utf8');
    const section = readme.slice(readme.indexOf('## Risk policy file'), readme.indexOf('\n## ', readme.indexOf('## Risk policy file') + 5));
    const example = /```yaml\n([\s\S]*?)```/.exec(section)![1]!;
    // The example is the seed design: the shipped defaults with enforcement on.
    expect(parsePolicy(example, 'README.md')).toStrictEqual({ ...DEFAULTS, mfaEnforcement: { ...DEFAULTS.mfaEnforcement, allUsers: true } });
    for (const s of SIGNALS) {
      const row = new RegExp(`^\\| \`${s}\` \\|.*\\| \`${DEFAULTS.riskBasedPrompting[s]}\` \\| ${DEFAULTS.weights[s]} \\|$`, 'm');
      expect(section, s).toMatch(row);
    }
  });
});

describe('parsePolicy errors: one line naming the file, the line and the key path', () => {
  it('a bad value', () => {
    expect(errorOf(SEED.replace('new_device: prompt_mfa', 'new_device: ask'))).toBe(
      'STEPWISE_POLICY_FILE: policy.yaml:6: risk_based_prompting.new_device: expected one of ignore|prompt_mfa|require_mfa|deny (got "ask")',
    );
    expect(errorOf('mfa_enforcement:\n  all_users: yes\n')).toBe('STEPWISE_POLICY_FILE: policy.yaml:2: mfa_enforcement.all_users: expected true or false (got "yes")');
    expect(errorOf('\n\nrisk_weights:\n  new_device: 20.5\n')).toBe('STEPWISE_POLICY_FILE: policy.yaml:4: risk_weights.new_device: expected an integer (got 20.5)');
    expect(errorOf('risk_weights: { new_device: 101 }')).toBe('STEPWISE_POLICY_FILE: policy.yaml:1: risk_weights.new_device: must be at most 100 (got 101)');
    expect(errorOf('remembered_devices:\n  days: 400\n')).toBe('STEPWISE_POLICY_FILE: policy.yaml:2: remembered_devices.days: must be at most 365 (got 400)');
    expect(errorOf('risk_thresholds:\n  step_up: 90\n  deny: 50\n')).toBe(
      'STEPWISE_POLICY_FILE: policy.yaml:2: risk_thresholds.step_up: must not exceed risk_thresholds.deny (50) (got 90)',
    );
    expect(errorOf('recovery:\n  admin_recovery: email\n')).toBe(
      'STEPWISE_POLICY_FILE: policy.yaml:2: recovery.admin_recovery: expected one of verify_with_id|off|disabled (got "email")',
    );
    expect(errorOf('velocity: 5\n')).toBe('STEPWISE_POLICY_FILE: policy.yaml:1: velocity: expected a mapping (got 5)');
    expect(errorOf('- a\n')).toBe('STEPWISE_POLICY_FILE: policy.yaml:1: (root): expected a mapping (got a list)');
  });

  it('a bad duration', () => {
    expect(errorOf(SEED.replace('recovery_timeout: 24h', 'recovery_timeout: 1 day'))).toBe(
      'STEPWISE_POLICY_FILE: policy.yaml:12: recovery.recovery_timeout: expected a duration such as 30d, 24h, 15m, 90s or a number of seconds (got "1 day")',
    );
    expect(errorOf(SEED.replace('grace_period: 30d', 'grace_period: 400d'))).toBe(
      'STEPWISE_POLICY_FILE: policy.yaml:3: mfa_enforcement.grace_period: must be between 0s and 365d (got "400d")',
    );
    expect(errorOf('sensitive_action_max_age: 10s\n')).toBe('STEPWISE_POLICY_FILE: policy.yaml:1: sensitive_action_max_age: must be between 1m and 1d (got "10s")');
  });

  it('a misspelt key, with a suggestion', () => {
    expect(errorOf(SEED.replace('grace_period', 'grace_periode'))).toBe(
      'STEPWISE_POLICY_FILE: policy.yaml:3: mfa_enforcement.grace_periode: unknown key (did you mean grace_period?)',
    );
    expect(errorOf(SEED.replace('new_location', 'new_locaton'))).toBe(
      'STEPWISE_POLICY_FILE: policy.yaml:7: risk_based_prompting.new_locaton: unknown key (did you mean new_location?)',
    );
    expect(errorOf(`${SEED}remembered_device:\n  days: 10\n`)).toBe(
      'STEPWISE_POLICY_FILE: policy.yaml:13: remembered_device: unknown key (did you mean remembered_devices?)',
    );
    expect(errorOf('velocity:\n  window: 15m\n  lockout: 3\n')).toBe(
      'STEPWISE_POLICY_FILE: policy.yaml:3: velocity.lockout: unknown key (expected one of window|account_failures|ip_failures|ip_distinct_accounts)',
    );
  });

  it('a bad CIDR', () => {
    expect(errorOf('networks:\n  allow:\n    - 192.0.2.0/24\n    - 10.0.0.0/33\n')).toBe(
      'STEPWISE_POLICY_FILE: policy.yaml:4: networks.allow[1]: expected an IPv4 or IPv6 CIDR such as 192.0.2.0/24 or 2001:db8::/32 (got "10.0.0.0/33")',
    );
    expect(errorOf('# deny list\nnetworks: { deny: ["2001:db8::/129"] }\n')).toBe(
      'STEPWISE_POLICY_FILE: policy.yaml:2: networks.deny[0]: expected an IPv4 or IPv6 CIDR such as 192.0.2.0/24 or 2001:db8::/32 (got "2001:db8::/129")',
    );
    expect(errorOf('networks:\n  deny: 10.0.0.0/8\n')).toBe('STEPWISE_POLICY_FILE: policy.yaml:2: networks.deny: expected a list (got "10.0.0.0/8")');
  });

  it('reports the problem that comes first in the file', () => {
    expect(errorOf('recovery:\n  backup_codes: 0\nmfa_enforcement:\n  all_users: maybe\n')).toMatch(/^STEPWISE_POLICY_FILE: policy\.yaml:2: recovery\.backup_codes: /);
  });

  it('a YAML syntax error, at the parser line', () => {
    expect(errorOf('mfa_enforcement:\n  all_users: true\nrisk_based_prompting: { new_device: prompt_mfa\nrecovery:\n  backup_codes: 10\n')).toMatch(
      /^STEPWISE_POLICY_FILE: policy\.yaml:4: YAML syntax error: /,
    );
    expect(errorOf('recovery:\n  backup_codes: 10\n  backup_codes: 11\n')).toBe(
      'STEPWISE_POLICY_FILE: policy.yaml:3: YAML syntax error: Map keys must be unique (column 3)',
    );
    expect(errorOf('mfa_enforcement:\n  all_users: true\n   grace_period: 30d\n')).toBe(
      'STEPWISE_POLICY_FILE: policy.yaml:2: YAML syntax error: Nested mappings are not allowed in compact mappings (column 14)',
    );
  });

  it('names the file as given', () => {
    expect(errorOf('zzz: 1', '/etc/stepwise/policy.yaml')).toMatch(/^STEPWISE_POLICY_FILE: \/etc\/stepwise\/policy\.yaml:1: zzz: unknown key/);
  });
});

describe('loadPolicyFile', () => {
  it('reads a file, and names it in errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stepwise-policy-'));
    const file = join(dir, 'policy.yaml');
    writeFileSync(file, SEED.replace('all_users: true', 'all_users: false'));
    expect(loadPolicyFile(file).mfaEnforcement.allUsers).toBe(false);
    writeFileSync(file, SEED.replace('backup_codes: 10', 'backup_codes: ten'));
    expect(() => loadPolicyFile(file)).toThrow(new ConfigError(`STEPWISE_POLICY_FILE: ${file}:10: recovery.backup_codes: expected a number (got "ten")`));
  });

  it('a missing file', () => {
    expect(() => loadPolicyFile('/nonexistent/policy.yaml')).toThrow(ConfigError);
    expect(() => loadPolicyFile('/nonexistent/policy.yaml')).toThrow(/^STEPWISE_POLICY_FILE: cannot read \/nonexistent\/policy\.yaml: ENOENT/);
  });
});
