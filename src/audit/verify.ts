/**
 * `audit verify`: the chain from its anchor, checked against the checkpoints an operator gives (from the
 * log stream or an export — what database access cannot rewrite) and the stored ones whose signature holds.
 */
import type { Db } from '../store/db.js';
import type { Anchor, Problem } from './chain.js';
import type { Checkpoint, CheckpointKeys } from './checkpoint.js';
import { storedCheckpoints, walkAndJudge } from './store.js';

export interface VerifyReport {
  intact: boolean;
  /** The first event at fault (edited, or the one after a removal); null when intact or no single event is. */
  firstBrokenEvent: string | null;
  problem: Problem | null;
  events: number;
  firstSeq: number | null;
  head: { seq: number; hash: string } | null;
  anchor: Anchor;
  /** The latest checkpoint checked against (given ones win over stored ones). */
  checkpoint: (Pick<Checkpoint, 'kind' | 'seq' | 'hash' | 'count' | 'at' | 'keyId'> & { source: 'given' | 'stored' }) | null;
  checkpointsChecked: number;
  warning?: string;
}

const latest = (list: readonly Checkpoint[]) => list.reduce<Checkpoint | null>((best, c) => (!best || c.seq > best.seq || (c.seq === best.seq && c.at > best.at) ? c : best), null);

export async function verifyAudit(db: Db, opts: { keys: CheckpointKeys | null; given?: readonly Checkpoint[] }): Promise<VerifyReport> {
  const given = opts.given ?? [];
  const fail = (problem: Problem): VerifyReport => ({
    intact: false,
    firstBrokenEvent: problem.eventId ?? null,
    problem,
    events: 0,
    firstSeq: null,
    head: null,
    anchor: { kind: 'genesis', seq: 0, hash: '', count: 0 },
    checkpoint: null,
    checkpointsChecked: 0,
  });
  const keys = opts.keys;
  if (given.length > 0 && !keys) throw new Error('checking a checkpoint needs the audit public key');
  for (const c of given) {
    const why = keys!.reject(c);
    if (why) return fail({ kind: 'forged_checkpoint', seq: c.seq, message: `the given ${why}` });
  }
  const stored: Checkpoint[] = [];
  if (keys) {
    for (const c of await storedCheckpoints(db)) {
      // A stored checkpoint under another key (an earlier deployment key not passed in) proves nothing either way.
      if (!keys.all.some((k) => k.keyId === c.keyId)) continue;
      const why = keys.reject(c);
      if (why) return fail({ kind: 'forged_checkpoint', seq: c.seq, message: `stored ${why} (the audit_checkpoints table was tampered with)` });
      stored.push(c);
    }
  }
  const all = [...given, ...stored];
  const { walk, anchor, problem } = await walkAndJudge(db, all);
  const target = latest(given) ?? latest(stored);
  const report: VerifyReport = {
    intact: problem === null,
    firstBrokenEvent: problem?.eventId ?? null,
    problem,
    events: walk.rows,
    firstSeq: walk.firstSeq,
    head: walk.head,
    anchor,
    checkpoint: target
      ? { kind: target.kind, seq: target.seq, hash: target.hash, count: target.count, at: target.at, keyId: target.keyId, source: given.includes(target) ? 'given' : 'stored' }
      : null,
    checkpointsChecked: all.length,
  };
  if (given.length === 0) {
    report.warning = keys
      ? 'no checkpoint given: a truncated tail or wiped table is detected only against the stored checkpoints, which database access can delete; pass --checkpoint with the latest audit.checkpoint from the log stream or an export'
      : 'no audit key: only the hash chain was checked (edited or removed rows), not truncation';
  }
  return report;
}
