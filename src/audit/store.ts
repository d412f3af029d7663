/**
 * Audit tables as the anchoring sees them: rows in chain order (paged), the stored checkpoints, where the
 * chain starts (genesis or a signed prune boundary), and the two writes that need the chain's head under the
 * audit lock — a checkpoint and a prune.
 */
import type { Knex } from 'knex';
import type { Db } from '../store/db.js';
import { ChainWalker, GENESIS, GENESIS_ANCHOR, judgeChain, type Anchor, type ChainRow, type Problem, type Waypoint } from './chain.js';
import type { Checkpoint, CheckpointKeys, CheckpointKind } from './checkpoint.js';
import { auditTransaction } from './lock.js';
import { AppError } from '../errors/index.js';

type Q = Db | Knex.Transaction;
const PAGE = 1000;

export function toChainRow(r: Record<string, unknown>): ChainRow {
  return {
    seq: Number(r.seq),
    id: r.id as string,
    at: Number(r.at),
    type: r.type as string,
    outcome: r.outcome as string,
    userId: (r.user_id as string | null) ?? null,
    clientId: (r.client_id as string | null) ?? null,
    ip: (r.ip as string | null) ?? null,
    details: JSON.parse(r.details as string) as Record<string, unknown>,
    prevHash: r.prev_hash as string,
    hash: r.hash as string,
  };
}

/** Rows in seq order, `PAGE` at a time, up to `throughSeq` when given. */
export async function* chainRows(q: Q, throughSeq?: number): AsyncGenerator<ChainRow> {
  let after = -1;
  for (;;) {
    let query = q('audit_events').where('seq', '>', after).orderBy('seq', 'asc').limit(PAGE);
    if (throughSeq !== undefined) query = query.andWhere('seq', '<=', throughSeq);
    const rows = (await query) as Record<string, unknown>[];
    for (const r of rows) yield toChainRow(r);
    if (rows.length < PAGE) return;
    after = Number(rows[rows.length - 1]!.seq);
  }
}

/** Stored checkpoints, all (oldest first) or filtered: a prune boundary by hash, or the `latest` N in a seq range (newest first). */
export async function storedCheckpoints(
  q: Q,
  filter: { kind?: CheckpointKind; hash?: string; after?: number; through?: number; latest?: number } = {},
): Promise<Array<Checkpoint & { id: number }>> {
  // A database from before the checkpoints migration (verified read-only) simply has none.
  if (!(await q.schema.hasTable('audit_checkpoints'))) return [];
  let query = q('audit_checkpoints');
  if (filter.kind) query = query.where({ kind: filter.kind });
  if (filter.hash) query = query.where({ hash: filter.hash });
  if (filter.after !== undefined) query = query.where('seq', '>', filter.after);
  if (filter.through !== undefined) query = query.where('seq', '<=', filter.through);
  query = filter.latest ? query.orderBy('seq', 'desc').orderBy('id', 'desc').limit(filter.latest) : query.orderBy('id', 'asc');
  const rows = (await query) as Record<string, unknown>[];
  return rows.map((r) => ({
    id: Number(r.id),
    type: 'stepwise.audit.checkpoint',
    v: 1,
    kind: r.kind as CheckpointKind,
    seq: Number(r.seq),
    hash: r.hash as string,
    count: Number(r.count),
    at: Number(r.at),
    keyId: r.key_id as string,
    sig: r.sig as string,
  }));
}

async function insertCheckpoint(q: Q, c: Checkpoint): Promise<void> {
  await q('audit_checkpoints').insert({ kind: c.kind, seq: c.seq, hash: c.hash, count: c.count, at: c.at, key_id: c.keyId, sig: c.sig });
}

/**
 * Where a chain whose first row is `first` legitimately starts: the genesis, or a (signature-checked) prune
 * checkpoint whose boundary hash the first row follows. Null: neither — leading events were removed.
 */
export function findAnchor(first: Pick<ChainRow, 'seq' | 'prevHash'> | null, prunes: readonly Checkpoint[]): Anchor | null {
  if (!first || first.prevHash === GENESIS) return GENESIS_ANCHOR;
  const p = prunes.find((c) => c.kind === 'prune' && c.hash === first.prevHash && c.seq < first.seq);
  return p ? { kind: 'prune', seq: p.seq, hash: p.hash, count: p.count } : null;
}

export const toWaypoint = (c: Checkpoint): Waypoint => ({ seq: c.seq, hash: c.hash, count: c.count, at: c.at });

async function firstRow(q: Q): Promise<ChainRow | null> {
  const r = (await q('audit_events').orderBy('seq', 'asc').first()) as Record<string, unknown> | undefined;
  return r ? toChainRow(r) : null;
}

/** Stored checkpoints whose signature verifies. */
async function trustedStored(q: Q, keys: CheckpointKeys): Promise<Checkpoint[]> {
  return (await storedCheckpoints(q)).filter((c) => keys.reject(c) === null);
}

/** Walks the chain (through `throughSeq`) from its anchor past every waypoint; the first problem, or null. */
export async function walkAndJudge(q: Q, checkpoints: readonly Checkpoint[], throughSeq?: number): Promise<{ walk: ChainWalker; anchor: Anchor; problem: Problem | null }> {
  const first = await firstRow(q);
  const found = findAnchor(first, checkpoints);
  const anchor = found ?? GENESIS_ANCHOR;
  const waypoints = checkpoints.filter((c) => throughSeq === undefined || c.seq <= throughSeq).map(toWaypoint);
  const walk = new ChainWalker(anchor, new Set(waypoints.map((w) => w.seq)));
  for await (const row of chainRows(q, throughSeq)) walk.push(row);
  return { walk, anchor, problem: judgeChain(walk, anchor, waypoints) };
}

/** Head of the chain and the number of events recorded through it, read under the audit lock. */
async function headState(trx: Knex.Transaction, keys: CheckpointKeys): Promise<{ seq: number; hash: string; count: number }> {
  const first = await firstRow(trx);
  const prunes = first && first.prevHash !== GENESIS ? (await storedCheckpoints(trx, { kind: 'prune', hash: first.prevHash })).filter((c) => keys.reject(c) === null) : [];
  const anchor = findAnchor(first, prunes) ?? GENESIS_ANCHOR;
  const head = (await trx('audit_events').orderBy('seq', 'desc').first('seq', 'hash')) as { seq: number | string; hash: string } | undefined;
  if (!head) return { seq: anchor.seq, hash: anchor.hash, count: anchor.count };
  const seq = Number(head.seq);
  // Count from the newest recent checkpoint the chain still passes through (rows since then only — not the
  // whole table every time), else from the anchor.
  let base: { seq: number; count: number } = anchor;
  for (const c of await storedCheckpoints(trx, { after: anchor.seq, through: seq, latest: 10 })) {
    if (keys.reject(c) !== null) continue;
    const row = (await trx('audit_events').where({ seq: c.seq }).first('hash')) as { hash: string } | undefined;
    if (row?.hash === c.hash) {
      base = c;
      break;
    }
  }
  const n = (await trx('audit_events').where('seq', '>', base.seq).andWhere('seq', '<=', seq).count<{ n: number | string }[]>({ n: '*' }).first())?.n;
  return { seq, hash: head.hash, count: base.count + Number(n ?? 0) };
}

/** Signs the chain's current head, stores the checkpoint, and hands it to `publish` (the log stream) before commit. */
export async function writeCheckpoint(db: Db, keys: CheckpointKeys, kind: Exclude<CheckpointKind, 'prune'>, now: number, publish: (c: Checkpoint) => void = () => undefined): Promise<Checkpoint> {
  return auditTransaction(db, async (trx) => {
    const c = keys.signer.sign({ kind, ...(await headState(trx, keys)), at: now });
    await insertCheckpoint(trx, c);
    publish(c);
    return c;
  });
}

export interface PruneResult {
  checkpoint: Checkpoint | null;
  deleted: number;
}

/**
 * Deletes every event before the first one recorded at or after `beforeMs` (never the newest one). First: the chain up to the
 * boundary must verify (a prune never destroys evidence of tampering), then a prune checkpoint of the
 * boundary (its seq, hash and count) is signed, stored and published — only then are the rows deleted, in
 * the same transaction. Verification then starts at the boundary hash.
 */
export async function pruneBefore(db: Db, keys: CheckpointKeys, beforeMs: number, now: number, publish: (c: Checkpoint) => void): Promise<PruneResult> {
  return auditTransaction(db, async (trx) => {
    // The head always stays: the next event must chain onto a stored row, never restart at the genesis.
    const head = (await trx('audit_events').max<{ s: number | string | null }[]>({ s: 'seq' }).first())?.s;
    const kept = (await trx('audit_events').where('at', '>=', beforeMs).min<{ s: number | string | null }[]>({ s: 'seq' }).first())?.s;
    if (head === null || head === undefined) return { checkpoint: null, deleted: 0 };
    const keep = Math.min(Number(head), kept === null || kept === undefined ? Infinity : Number(kept));
    const boundary = (await trx('audit_events').where('seq', '<', keep).orderBy('seq', 'desc').first('seq', 'hash')) as { seq: number | string; hash: string } | undefined;
    if (!boundary) return { checkpoint: null, deleted: 0 };
    const seq = Number(boundary.seq);
    const { walk, anchor, problem } = await walkAndJudge(trx, await trustedStored(trx, keys), seq);
    if (problem) throw new AppError('conflict', `refusing to prune: the audit log does not verify: ${problem.message}`);
    const c = keys.signer.sign({ kind: 'prune', seq, hash: boundary.hash, count: anchor.count + walk.rows, at: now });
    await insertCheckpoint(trx, c);
    publish(c);
    const deleted = await trx('audit_events').where('seq', '<=', seq).del();
    return { checkpoint: c, deleted };
  });
}
