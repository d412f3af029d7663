#!/usr/bin/env node
/**
 * `npm test`: runs every vitest project this machine can run, and says loudly what it could not.
 *
 *   unit, integration (SQLite)           always
 *   integration on PostgreSQL + Redis    when TEST_DATABASE_URL and TEST_REDIS_URL are set and both answer
 *   browser (headless Chromium)          when CHROMIUM_PATH or /usr/bin/chromium is an executable file
 *
 * Whatever is missing is named in a boxed banner before and after the run, with the command that enables
 * it; nothing that did not run is reported as passed. With STEPWISE_REQUIRE_ALL=1 (CI) anything missing is
 * a failure (exit 1) before any test runs. Extra arguments go to `vitest run` unchanged; if they include
 * --project, the script's own project selection is left out. The exit code is vitest's.
 *
 * No dependencies beyond node and the repo's vitest.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const requireAll = ['1', 'true', 'yes'].includes((process.env.STEPWISE_REQUIRE_ALL ?? '').toLowerCase());

const PG_EXAMPLE = 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_EXAMPLE = 'redis://127.0.0.1:6379';
const CONNECT_TIMEOUT_MS = 2000;

/**
 * Resolves to null when host:port accepts a TCP connection and answers `hello` with bytes that `looksRight`
 * accepts, else to a short reason. Talking the protocol (not just connecting) tells a real server from
 * anything else that happens to accept connections.
 */
function probe(host, port, hello, looksRight, what) {
  return new Promise((done) => {
    const socket = connect({ host, port });
    const finish = (reason) => {
      socket.removeAllListeners();
      socket.destroy();
      done(reason);
    };
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => finish(`no answer within ${CONNECT_TIMEOUT_MS} ms`));
    socket.once('connect', () => (hello === null ? finish(null) : socket.write(hello)));
    socket.once('data', (chunk) => finish(looksRight(chunk) ? null : `answered, but not like ${what}`));
    socket.once('end', () => finish(`closed the connection without answering like ${what}`));
    socket.once('error', (err) => finish(err.code ?? err.message));
  });
}

// PostgreSQL: an SSLRequest packet; a server answers one byte, 'S' or 'N' (very old ones: 'E').
const PG_SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
const pgAnswer = (b) => b.length >= 1 && [0x53, 0x4e, 0x45].includes(b[0]);
// Redis: PING; '+PONG', or an error such as '-NOAUTH' from a server that wants a password.
const redisAnswer = (b) => b.length >= 1 && (b[0] === 0x2b || b[0] === 0x2d);

/** Checks one TEST_* URL: set, parseable, reachable. Returns null when usable, else why not. */
async function probeUrl(name, value, protocols, defaultPort, hello, looksRight, what) {
  if (!value) return `${name} is not set`;
  let url;
  try {
    url = new URL(value);
  } catch {
    return `${name} is not a valid URL (${JSON.stringify(value)})`;
  }
  if (!protocols.includes(url.protocol)) {
    return `${name} must start with ${protocols.map((p) => `${p}//`).join(' or ')} (got ${url.protocol}//)`;
  }
  // A libpq-style ?host=/var/run/postgresql socket directory: accept when it exists.
  const socketDir = url.searchParams.get('host');
  if (socketDir?.startsWith('/')) return existsSync(socketDir) ? null : `${name}: socket directory ${socketDir} does not exist`;
  const host = (url.hostname || 'localhost').replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || defaultPort);
  // rediss:// speaks TLS first; a TCP connect is as far as this check goes there.
  const reason = await probe(host, port, url.protocol === 'rediss:' ? null : hello, looksRight, what);
  return reason ? `${name}: no ${what} at ${host}:${port} (${reason})` : null;
}

function findChromium() {
  const fromEnv = process.env.CHROMIUM_PATH;
  const candidate = fromEnv || '/usr/bin/chromium';
  const label = fromEnv ? `CHROMIUM_PATH=${fromEnv}` : '/usr/bin/chromium';
  try {
    if (!statSync(candidate).isFile()) return { path: null, reason: `${label} is not a file` };
    accessSync(candidate, constants.X_OK);
    return { path: candidate, reason: null };
  } catch (err) {
    return { path: null, reason: `${label} ${err.code === 'ENOENT' ? 'does not exist' : `is not executable (${err.code})`}` };
  }
}

function banner(title, lines) {
  const body = [title, '', ...lines];
  const width = Math.max(...body.map((l) => l.length)) + 4;
  const bar = '!'.repeat(width + 2);
  const out = ['', bar, ...body.map((l) => `!  ${l.padEnd(width - 4)}  !`), bar, ''];
  const color = process.stdout.isTTY && !process.env.NO_COLOR;
  process.stdout.write(out.map((l) => (color && l ? `\x1b[1;33m${l}\x1b[0m` : l)).join('\n') + '\n');
}

// ---- detect --------------------------------------------------------------------------------------------
const [pgReason, redisReason] = await Promise.all([
  probeUrl('TEST_DATABASE_URL', process.env.TEST_DATABASE_URL, ['postgres:', 'postgresql:'], 5432, PG_SSL_REQUEST, pgAnswer, 'PostgreSQL'),
  probeUrl('TEST_REDIS_URL', process.env.TEST_REDIS_URL, ['redis:', 'rediss:'], 6379, 'PING\r\n', redisAnswer, 'Redis'),
]);
const haveStores = !pgReason && !redisReason;
const chromium = findChromium();
const haveBrowser = Boolean(chromium.path);

/** What did not run, each with its reasons and how to enable it. */
const missing = [];
if (!haveStores) {
  missing.push({
    what: 'PostgreSQL + Redis store matrix (integration tests on SQLite only)',
    why: [pgReason, redisReason].filter(Boolean),
    fix: [
      'start PostgreSQL and Redis, then run:',
      `  TEST_DATABASE_URL=${PG_EXAMPLE} TEST_REDIS_URL=${REDIS_EXAMPLE} npm test`,
    ],
  });
}
if (!haveBrowser) {
  missing.push({
    what: 'browser suite (test/browser, headless Chromium)',
    why: [chromium.reason],
    fix: ['sudo apt-get install chromium', '  (or point CHROMIUM_PATH at a Chromium/Chrome binary)'],
  });
}

function missingLines(tense) {
  const lines = [];
  for (const m of missing) {
    lines.push(`${tense} ${m.what}`);
    for (const w of m.why) lines.push(`    because: ${w}`);
    lines.push('    to enable:');
    for (const f of m.fix) lines.push(`      ${f}`);
    lines.push('');
  }
  lines.pop();
  return lines;
}

if (missing.length && requireAll) {
  banner('STEPWISE_REQUIRE_ALL=1: REQUIRED TEST SUITES CANNOT RUN, NOTHING WAS RUN', missingLines('MISSING:'));
  process.exit(1);
}
if (missing.length) {
  banner('PARTIAL TEST RUN: SOME SUITES WILL NOT RUN', missingLines('WILL NOT RUN:'));
}

// ---- run -----------------------------------------------------------------------------------------------
const vitest = join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'vitest.cmd' : 'vitest');
if (!existsSync(vitest)) {
  process.stderr.write(`scripts/test.mjs: ${vitest} not found; run \`npm ci\` first\n`);
  process.exit(1);
}

const env = { ...process.env };
if (!haveStores) {
  // Unreachable (or half-configured) stores would make every postgres+redis case hang or fail: drop them.
  delete env.TEST_DATABASE_URL;
  delete env.TEST_REDIS_URL;
}
if (haveBrowser) env.CHROMIUM_PATH = chromium.path;
else delete env.CHROMIUM_PATH;

const userPicksProjects = args.some((a) => a === '--project' || a.startsWith('--project='));
const projects = userPicksProjects ? [] : ['unit', 'integration', ...(haveBrowser ? ['browser'] : [])].flatMap((p) => ['--project', p]);

// A JSON report next to the default one gives the closing "N passed, N failed" line; skipped when the
// caller chose reporters or output files.
const userPicksReporters = args.some((a) => /^--(reporter|outputFile)([.=]|$)/.test(a));
const reportDir = userPicksReporters ? null : mkdtempSync(join(tmpdir(), 'stepwise-vitest-'));
const reportFile = reportDir ? join(reportDir, 'report.json') : null;
const reporters = reportFile ? ['--reporter=default', '--reporter=json', `--outputFile.json=${reportFile}`] : [];

const child = spawn(vitest, ['run', ...projects, ...reporters, ...args], { cwd: root, env, stdio: 'inherit' });
const forward = (signal) => child.kill(signal);
process.on('SIGINT', forward);
process.on('SIGTERM', forward);

const exitCode = await new Promise((done) => {
  child.once('error', (err) => {
    process.stderr.write(`scripts/test.mjs: cannot start vitest: ${err.message}\n`);
    done(1);
  });
  child.once('exit', (code, signal) => done(code ?? (signal ? 1 : 0)));
});

let summary = null;
if (reportFile) {
  try {
    const r = JSON.parse(readFileSync(reportFile, 'utf8'));
    const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    summary = `tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}`;
  } catch {
    // vitest died before writing its report; its exit code says so.
  }
  rmSync(reportDir, { recursive: true, force: true });
}

if (missing.length) {
  banner(
    `PARTIAL TEST RUN (vitest exit code ${exitCode}): THESE DID NOT RUN, AND DID NOT PASS`,
    missingLines('DID NOT RUN:'),
  );
}
if (summary) process.stdout.write(`${summary}\n`);
process.exit(exitCode);
