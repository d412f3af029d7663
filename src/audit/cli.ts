/**
 * `stepwise audit …`: verify, checkpoint, prune, public-key. Opens the database directly (no container:
 * nothing else starts, and a verifier with only the public key needs nothing but the database).
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Config } from '../config/index.js';
import { AppError } from '../errors/index.js';
import { SecretBox } from '../security/crypto.js';
import { createDb, migrate, type Db } from '../store/db.js';
import { CheckpointKey, CheckpointKeys, parseCheckpoints, type Checkpoint } from './checkpoint.js';
import { AuditLog } from './log.js';
import { pruneBefore, writeCheckpoint } from './store.js';
import { verifyAudit } from './verify.js';

export const AUDIT_USAGE = `  stepwise audit verify [--checkpoint FILE|-] [--public-key=KEY]   (chain + signed checkpoint: edited, removed,
                          truncated, wiped; exit 3 when not intact)
  stepwise audit checkpoint                             (sign the chain's head now; prints the checkpoint JSON to keep)
  stepwise audit prune --before DATE                    (checkpoint the boundary, then delete older events)
  stepwise audit public-key                             (the key that verifies checkpoints; needs no secret)`;

export interface AuditCliDeps {
  loadConfig(): Config;
  readStdin(): Promise<string>;
  out(value: unknown): void;
  usage(message: string): Error;
}

/** A failed verification: the report was printed; the exit code says "not intact" (3). */
class NotIntact extends AppError {
  readonly exitCode = 3;
}

function readKeyArg(value: string): CheckpointKey {
  let text = value;
  if (!/^[A-Za-z0-9_-]{43}$/.test(value) && !value.includes('BEGIN') && existsSync(value)) {
    text = readFileSync(value, 'utf8');
    try {
      const json = JSON.parse(text) as { publicKey?: unknown };
      if (typeof json.publicKey === 'string') text = json.publicKey;
    } catch {
      /* a PEM file */
    }
  }
  try {
    return CheckpointKey.fromPublic(text);
  } catch (err) {
    throw new AppError('invalid_request', (err as Error).message, 'public-key');
  }
}

/** ISO 8601 (`2026-06-01`, `2026-06-01T12:00:00Z`) or epoch milliseconds. */
export function parseBefore(value: string): number {
  const ms = /^\d{10,16}$/.test(value) ? Number(value) : /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value) ? Date.parse(value) : NaN;
  if (!Number.isFinite(ms)) throw new AppError('invalid_request', `--before: expected a date (2026-06-01 or 2026-06-01T12:00:00Z) or epoch milliseconds (got ${JSON.stringify(value)})`, 'before');
  return ms;
}

/** `readOnly`: no migrations (a verifier may hold only read access to the database, or a restored copy). */
async function withDb<T>(config: Config, fn: (db: Db) => Promise<T>, opts: { readOnly?: boolean } = {}): Promise<T> {
  const db = createDb(config.database);
  try {
    if (!opts.readOnly) await migrate(db);
    return await fn(db);
  } finally {
    await db.destroy();
  }
}

export async function runAuditCommand(verb: string | undefined, args: string[], deps: AuditCliDeps): Promise<void> {
  const keysOf = (config: Config) => CheckpointKeys.fromBox(SecretBox.fromSecrets(config.secrets));
  if (verb === 'public-key') {
    parseArgs({ args, options: {}, strict: true });
    const keys = keysOf(deps.loadConfig());
    const [current, ...previous] = keys.all;
    deps.out({ keyId: current!.keyId, publicKey: current!.publicKeyRaw, pem: current!.pem, previous: previous.map((k) => ({ keyId: k.keyId, publicKey: k.publicKeyRaw })) });
    return;
  }
  if (verb === 'checkpoint') {
    parseArgs({ args, options: {}, strict: true });
    const config = deps.loadConfig();
    deps.out(await withDb(config, (db) => writeCheckpoint(db, keysOf(config), 'export', Date.now())));
    return;
  }
  if (verb === 'prune') {
    const { values } = parseArgs({ args, options: { before: { type: 'string' } }, strict: true });
    if (!values.before) throw deps.usage('--before DATE is required');
    const before = parseBefore(values.before);
    const config = deps.loadConfig();
    const keys = keysOf(config);
    await withDb(config, async (db) => {
      const result = await pruneBefore(db, keys, before, Date.now(), () => undefined);
      if (result.checkpoint) {
        await new AuditLog(db, Date.now, { keys }).record({
          type: 'audit.pruned',
          outcome: 'success',
          details: { throughSeq: result.checkpoint.seq, deleted: result.deleted, before: new Date(before).toISOString() },
        });
      }
      deps.out({
        pruned: result.deleted,
        before: new Date(before).toISOString(),
        checkpoint: result.checkpoint,
        note: result.checkpoint
          ? 'keep this prune checkpoint with your exports: verification now starts at its boundary hash'
          : 'nothing older than --before (the newest event always stays)',
      });
    });
    return;
  }
  if (verb === 'verify') {
    const { values } = parseArgs({ args, options: { checkpoint: { type: 'string' }, 'public-key': { type: 'string' } }, strict: true });
    const config = deps.loadConfig();
    const keys = values['public-key'] !== undefined ? new CheckpointKeys([readKeyArg(values['public-key'])]) : keysOf(config);
    let given: Checkpoint[] | undefined;
    if (values.checkpoint !== undefined) {
      const file = values.checkpoint;
      let text: string;
      try {
        text = file === '-' ? await deps.readStdin() : readFileSync(file, 'utf8');
      } catch (err) {
        throw new AppError('invalid_request', `--checkpoint: cannot read ${file}: ${(err as Error).message}`, 'checkpoint');
      }
      try {
        given = parseCheckpoints(text);
      } catch (err) {
        throw new AppError('invalid_request', `--checkpoint: ${(err as Error).message}`, 'checkpoint');
      }
    }
    const report = await withDb(config, (db) => verifyAudit(db, { keys, given }), { readOnly: true });
    deps.out(report);
    if (!report.intact) throw new NotIntact('conflict', `audit log not intact (${report.problem!.kind}): ${report.problem!.message}`);
    return;
  }
  throw deps.usage(verb ? `unknown command: audit ${verb}` : 'audit needs a verb: verify, checkpoint, prune or public-key');
}
