/**
 * The hash chain's arithmetic and the pure verdict on a walked chain. Each event's hash covers the previous
 * event's hash, so an edited row no longer matches its own hash and a removed row breaks the link of the row
 * after it. What the chain alone cannot show — a cut tail, an emptied table, a chain rewritten from some
 * point on — the signed checkpoints show (see judgeChain).
 */
import { createHash } from 'node:crypto';

export const GENESIS = '0'.repeat(64);

export interface ChainFields {
  id: string;
  at: number;
  type: string;
  outcome: string;
  userId: string | null;
  clientId: string | null;
  ip: string | null;
  details: Record<string, unknown>;
}

export function digest(prev: string, e: ChainFields): string {
  const body = JSON.stringify([e.id, e.at, e.type, e.outcome, e.userId, e.clientId, e.ip, e.details]);
  return createHash('sha256').update(prev).update(body).digest('hex');
}

/** A stored row as the verifier sees it. */
export interface ChainRow extends ChainFields {
  seq: number;
  prevHash: string;
  hash: string;
}

/** Where the chain legitimately starts: the genesis, or the boundary of a signed, checkpointed prune. */
export interface Anchor {
  kind: 'genesis' | 'prune';
  seq: number;
  hash: string;
  /** Events recorded up to and including `seq` (0 at the genesis). */
  count: number;
}

export const GENESIS_ANCHOR: Anchor = { kind: 'genesis', seq: 0, hash: GENESIS, count: 0 };

/** A point the chain must pass through (from a signed checkpoint). */
export interface Waypoint {
  seq: number;
  hash: string;
  count: number;
  at: number;
}

export type ProblemKind = 'edited' | 'removed' | 'removed_head' | 'truncated' | 'wiped' | 'count_mismatch' | 'forged_checkpoint';

export interface Problem {
  kind: ProblemKind;
  message: string;
  /** The event the problem shows at (when there is one). */
  seq?: number;
  eventId?: string;
}

/**
 * Walks rows in seq order, one at a time (the caller pages through the table), and remembers what the
 * verdict needs: the first broken row, the head, and the chain's state at each waypoint's seq.
 */
export class ChainWalker {
  private prev: string;
  private count: number;
  private lastSeq: number;
  private started = false;
  problem: Problem | null = null;
  rows = 0;
  firstSeq: number | null = null;
  head: { seq: number; hash: string } | null = null;
  /** waypoint seq → what the chain holds there (hash and cumulative count), when a row with that seq exists. */
  readonly seen = new Map<number, { hash: string; count: number }>();

  constructor(
    private readonly anchor: Anchor,
    private readonly waypointSeqs: ReadonlySet<number>,
  ) {
    this.prev = anchor.hash;
    this.count = anchor.count;
    this.lastSeq = anchor.seq;
  }

  push(row: ChainRow): void {
    this.rows++;
    if (this.firstSeq === null) this.firstSeq = row.seq;
    this.head = { seq: row.seq, hash: row.hash };
    if (this.problem) return;
    if (row.hash !== digest(row.prevHash, row)) {
      this.problem = { kind: 'edited', seq: row.seq, eventId: row.id, message: `event ${row.id} (seq ${row.seq}) was edited: its content no longer matches its hash` };
      return;
    }
    if (row.prevHash !== this.prev) {
      this.problem = this.started
        ? {
            kind: 'removed',
            seq: row.seq,
            eventId: row.id,
            message: `the chain is broken before event ${row.id} (seq ${row.seq}): its previous hash is not the hash of seq ${this.lastSeq}, so events between seq ${this.lastSeq} and ${row.seq} were removed`,
          }
        : {
            kind: 'removed_head',
            seq: row.seq,
            eventId: row.id,
            message:
              this.anchor.kind === 'genesis'
                ? `the log starts at event ${row.id} (seq ${row.seq}), which does not follow the genesis and no signed prune checkpoint covers the events before it: events before seq ${row.seq} were removed`
                : `the log starts at event ${row.id} (seq ${row.seq}), which does not follow the prune boundary at seq ${this.anchor.seq}: events after the boundary were removed`,
          };
      return;
    }
    this.started = true;
    this.count++;
    this.prev = row.hash;
    this.lastSeq = row.seq;
    if (this.waypointSeqs.has(row.seq)) this.seen.set(row.seq, { hash: row.hash, count: this.count });
  }
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The verdict: the walk's own problem first, then every waypoint after the anchor in seq order — the log
 * must reach it (else truncated; an empty log: wiped), hold the checkpoint's hash there (else truncated and
 * rewritten) and have exactly the checkpoint's number of events up to it.
 */
export function judgeChain(walk: ChainWalker, anchor: Anchor, waypoints: readonly Waypoint[]): Problem | null {
  if (walk.problem) return walk.problem;
  const ahead = waypoints.filter((w) => w.seq > anchor.seq).sort((a, b) => a.seq - b.seq);
  for (const w of ahead) {
    if (walk.rows === 0) {
      return { kind: 'wiped', seq: w.seq, message: `the audit log is empty, but a checkpoint of ${iso(w.at)} covers ${w.count} events through seq ${w.seq}: the table was wiped` };
    }
    const head = walk.head!;
    if (head.seq < w.seq) {
      return {
        kind: 'truncated',
        seq: w.seq,
        message: `the log ends at seq ${head.seq}, but a checkpoint of ${iso(w.at)} covers events through seq ${w.seq}: the tail after seq ${head.seq} was removed`,
      };
    }
    const there = walk.seen.get(w.seq);
    if (!there || there.hash !== w.hash) {
      return {
        kind: 'truncated',
        seq: w.seq,
        message: `the event at seq ${w.seq} does not ${there ? 'have' : 'exist with'} the hash of the checkpoint of ${iso(w.at)}: the log was truncated at or before seq ${w.seq} and rewritten`,
      };
    }
    if (there.count !== w.count) {
      return {
        kind: 'count_mismatch',
        seq: w.seq,
        message: `the checkpoint of ${iso(w.at)} counts ${w.count} events through seq ${w.seq}, the log holds ${there.count}: events were removed or inserted and the chain re-hashed`,
      };
    }
  }
  return null;
}
