/**
 * Risk scorer benchmark (part of npm run bench): decisions per second of the pure scorer (src/risk/score.ts)
 * with the shipped default policy, over a mix of signal sets (quiet sign-ins, new device/network/location,
 * impossible travel, failures, credential stuffing, sensitive actions, remembered devices, service accounts,
 * deny-listed networks). In-process, no I/O; prints figures, asserts nothing. Target: ≥ 200,000 decisions/s.
 */
import { performance } from 'node:perf_hooks';
import { loadPolicyFile } from '../src/risk/policy-file.js';
import { score } from '../src/risk/score.js';
import type { RiskDecision, RiskSignals } from '../src/risk/types.js';

const ROUNDS = Number(process.env.BENCH_RISK_ROUNDS ?? 5);
const PER_ROUND = Number(process.env.BENCH_RISK_DECISIONS ?? 500_000);
const NOW = 1_750_000_000;
const DAY = 86_400;

function base(): RiskSignals {
  return {
    account: { ageSeconds: 400 * DAY, serviceAccount: false, secondFactors: 1, lastMfaAt: NOW - DAY },
    device: { known: true, remembered: false },
    network: { prefix: '198.51.100.0/24', known: true, allowListed: false, denyListed: false },
    location: { country: 'FR', city: 'Paris', known: true, impossibleTravel: false, speedKmh: 12 },
    velocity: { accountFailures: 0, ipFailures: 0, ipDistinctAccounts: 0 },
    request: { sensitive: false, sessionContextChanged: false },
  };
}

function mix(): RiskSignals[] {
  const variants: ((s: RiskSignals) => void)[] = [
    () => {},
    () => {},
    () => {},
    (s) => (s.device.known = false),
    (s) => (s.network.known = false),
    (s) => Object.assign(s.location, { known: false, city: 'Lyon' }),
    (s) => Object.assign(s.location, { known: false, impossibleTravel: true, city: 'Sydney', country: 'AU', speedKmh: 1850 }),
    (s) => Object.assign(s.velocity, { accountFailures: 6, ipFailures: 25 }),
    (s) => Object.assign(s.velocity, { ipFailures: 300, ipDistinctAccounts: 40 }),
    (s) => (s.request.sensitive = true),
    (s) => (s.request.sessionContextChanged = true),
    (s) => Object.assign(s.device, { remembered: true }) && (s.network.known = false),
    (s) => Object.assign(s.account, { secondFactors: 0, lastMfaAt: null }) && (s.device.known = false),
    (s) => Object.assign(s.account, { lastMfaAt: NOW - 90 * DAY, ageSeconds: 3600 }),
    (s) => (s.account.serviceAccount = true),
    (s) => (s.network.denyListed = true),
    (s) => Object.assign(s.location, { known: 'unknown', impossibleTravel: 'unknown', country: null, city: null, speedKmh: null }),
    (s) => Object.assign(s.device, { known: false }) && Object.assign(s.network, { known: false, prefix: '2001:db8:1::/48' }),
  ];
  return variants.map((v) => {
    const s = base();
    v(s);
    return s;
  });
}

function main() {
  const policy = loadPolicyFile(undefined);
  const sets = mix();
  const kinds = new Map<string, number>();
  for (const s of sets) {
    const d = score(s, policy, NOW).decision;
    const k = d.kind === 'step_up' ? `step_up${d.bypassRemembered ? '!' : ''}` : d.kind;
    kinds.set(k, (kinds.get(k) ?? 0) + 1);
  }
  console.log(`Stepwise risk scorer benchmark — Node ${process.version}`);
  console.log(`mix of ${sets.length} signal sets: ${[...kinds].map(([k, n]) => `${k} ${n}`).join(' · ')}`);

  let sink = 0; // keeps the results alive so the loop is not optimised away
  const consume = (d: RiskDecision) => {
    sink += d.score + d.reasons.length;
  };
  for (let i = 0; i < 50_000; i++) consume(score(sets[i % sets.length]!, policy, NOW + (i & 1023))); // warm-up

  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < PER_ROUND; i++) consume(score(sets[i % sets.length]!, policy, NOW + (i & 1023)));
    const ms = performance.now() - t0;
    rates.push(PER_ROUND / (ms / 1000));
  }
  rates.sort((a, b) => a - b);
  const median = rates[Math.floor(rates.length / 2)]!;
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  console.log(
    `${'risk decisions (score, default policy)'.padEnd(44)} ${fmt(median)} decisions/s median · min ${fmt(rates[0]!)} · max ${fmt(rates.at(-1)!)} ` +
      `(${ROUNDS} × ${PER_ROUND.toLocaleString('en-US')}; ${(1e6 / median).toFixed(2)} µs each; target ≥ 200,000)`,
  );
  if (sink === 0) console.log('(no work?)');
}

main();
