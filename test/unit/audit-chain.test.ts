/** The chain verdict and checkpoint signatures, as pure functions. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ChainWalker, digest, GENESIS, GENESIS_ANCHOR, judgeChain, type Anchor, type ChainRow, type Waypoint } from '../../src/audit/chain.js';
import { CheckpointKey, CheckpointKeys, parseCheckpoints } from '../../src/audit/checkpoint.js';
import { findAnchor } from '../../src/audit/store.js';
import { SecretBox } from '../../src/security/crypto.js';

function chain(n: number, from: { seq: number; hash: string } = { seq: 0, hash: GENESIS }): ChainRow[] {
  const rows: ChainRow[] = [];
  let prev = from.hash;
  for (let i = 1; i <= n; i++) {
    const e = { id: `e${from.seq + i}`, at: 1000 + i, type: 't', outcome: 'success', userId: null, clientId: null, ip: null, details: { i } };
    const hash = digest(prev, e);
    rows.push({ ...e, seq: from.seq + i, prevHash: prev, hash });
    prev = hash;
  }
  return rows;
}

function judge(rows: ChainRow[], waypoints: Waypoint[] = [], anchor: Anchor = GENESIS_ANCHOR) {
  const walk = new ChainWalker(anchor, new Set(waypoints.map((w) => w.seq)));
  for (const r of rows) walk.push(r);
  return judgeChain(walk, anchor, waypoints);
}

const wp = (r: ChainRow, count = r.seq): Waypoint => ({ seq: r.seq, hash: r.hash, count, at: 5000 });

describe('chain verdict', () => {
  const rows = chain(10);
  const cp = wp(rows[7]!);

  it('intact, with and without a checkpoint', () => {
    expect(judge(rows)).toBeNull();
    expect(judge(rows, [cp])).toBeNull();
  });

  it('an edited row', () => {
    const edited = rows.map((r) => (r.seq === 4 ? { ...r, outcome: 'failure' } : r));
    expect(judge(edited, [cp])).toMatchObject({ kind: 'edited', seq: 4, eventId: 'e4' });
  });

  it('a removed middle row', () => {
    const p = judge(rows.filter((r) => r.seq !== 5), [cp]);
    expect(p).toMatchObject({ kind: 'removed', seq: 6 });
    expect(p!.message).toContain('between seq 4 and 6');
  });

  it('a truncated tail: head before the checkpoint', () => {
    const p = judge(rows.slice(0, 6), [cp]);
    expect(p).toMatchObject({ kind: 'truncated', seq: 8 });
    expect(p!.message).toContain('ends at seq 6');
    // Without the checkpoint the chain alone looks fine: that is the gap the anchor closes.
    expect(judge(rows.slice(0, 6))).toBeNull();
  });

  it('a truncated and re-grown tail: another hash at the checkpoint seq', () => {
    // Cut after seq 6, then new events appended and chained properly from there.
    let prev = rows[5]!.hash;
    const regrown = chain(4, { seq: 6, hash: prev }).map((r) => {
      const e = { ...r, details: { other: r.seq }, prevHash: prev };
      e.hash = digest(prev, e);
      prev = e.hash;
      return e;
    });
    expect(judge([...rows.slice(0, 6), ...regrown])).toBeNull();
    expect(judge([...rows.slice(0, 6), ...regrown], [cp])).toMatchObject({ kind: 'truncated', seq: 8 });
  });

  it('a wiped table', () => {
    expect(judge([], [cp])).toMatchObject({ kind: 'wiped' });
    expect(judge([])).toBeNull();
  });

  it('a wrong count at the checkpoint', () => {
    expect(judge(rows, [{ ...cp, count: 9 }])).toMatchObject({ kind: 'count_mismatch', seq: 8 });
  });

  it('a pruned log anchored on its boundary, and leading rows removed without one', () => {
    const boundary: Anchor = { kind: 'prune', seq: 4, hash: rows[3]!.hash, count: 4 };
    const rest = rows.slice(4);
    const prune = { kind: 'prune' as const, seq: 4, hash: rows[3]!.hash, count: 4 };
    expect(findAnchor(rest[0]!, [{ type: 'stepwise.audit.checkpoint', v: 1, at: 1, keyId: 'k', sig: 's', ...prune }])).toEqual(boundary);
    expect(findAnchor(rest[0]!, [])).toBeNull();
    // A periodic checkpoint at the same seq does not authorise a deletion.
    expect(findAnchor(rest[0]!, [{ type: 'stepwise.audit.checkpoint', v: 1, at: 1, keyId: 'k', sig: 's', ...prune, kind: 'periodic' }])).toBeNull();
    expect(judge(rest, [cp], boundary)).toBeNull();
    expect(judge(rest, [cp])).toMatchObject({ kind: 'removed_head', seq: 5 });
  });
});

describe('checkpoint signatures', () => {
  const master = randomBytes(32);
  const box = new SecretBox(master, [randomBytes(32)]);
  const keys = CheckpointKeys.fromBox(box);
  const c = keys.signer.sign({ kind: 'periodic', seq: 8, hash: 'a'.repeat(64), count: 8, at: 1_700_000_000_000 });

  it('derives a stable key from the master key, verifiable from the public key alone', () => {
    expect(CheckpointKeys.fromBox(new SecretBox(master)).signer.keyId).toBe(keys.signer.keyId);
    expect(keys.all).toHaveLength(2);
    const pub = CheckpointKey.fromPublic(keys.signer.publicKeyRaw);
    expect(pub.verify(c)).toBe(true);
    expect(CheckpointKey.fromPublic(keys.signer.pem).verify(c)).toBe(true);
    expect(() => pub.sign({ kind: 'export', seq: 1, hash: c.hash, count: 1, at: 1 })).toThrow();
  });

  it('rejects any altered field and a checkpoint from another key', () => {
    expect(keys.reject(c)).toBeNull();
    for (const altered of [{ ...c, seq: 9 }, { ...c, count: 7 }, { ...c, hash: 'b'.repeat(64) }, { ...c, kind: 'prune' as const }, { ...c, at: c.at + 1 }]) {
      expect(keys.reject(altered)).toMatch(/invalid signature/);
    }
    const other = CheckpointKeys.fromBox(new SecretBox(randomBytes(32))).signer.sign({ kind: 'periodic', seq: 8, hash: c.hash, count: 8, at: c.at });
    expect(keys.reject(other)).toMatch(/not the audit key/);
    expect(() => CheckpointKey.fromPublic('nonsense')).toThrow(/--public-key/);
  });

  it('reads a checkpoint, an array, CLI output and pino log lines', () => {
    expect(parseCheckpoints(JSON.stringify(c))).toEqual([c]);
    expect(parseCheckpoints(JSON.stringify([c, c]))).toHaveLength(2);
    expect(parseCheckpoints(JSON.stringify({ pruned: 3, checkpoint: c }))).toEqual([c]);
    const log = [JSON.stringify({ level: 30, msg: 'request' }), 'garbage', JSON.stringify({ level: 30, msg: 'audit.checkpoint', checkpoint: c })].join('\n');
    expect(parseCheckpoints(log)).toEqual([c]);
    expect(() => parseCheckpoints('')).toThrow(/empty/);
    expect(() => parseCheckpoints('{"a":1}')).toThrow(/no audit checkpoint/);
  });
});
