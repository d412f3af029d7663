import { describe, expect, it } from 'vitest';
import { ConcurrencyGate } from '../../src/concurrency-gate.js';
import { PasswordHasher } from '../../src/security/password.js';

/** A task that runs until released, recording how many tasks of the gate ran at its start. */
function controlled(gate: ConcurrencyGate, seen: number[], order: number[], id: number, fail = false) {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const result = gate.run(async () => {
    order.push(id);
    seen.push(gate.load.running);
    await released;
    if (fail) throw new Error(`task ${id} failed`);
    return id;
  });
  return { result, release };
}

const ticks = () => new Promise((r) => setImmediate(r));

describe('ConcurrencyGate', () => {
  it('runs at most its slots at once, the rest in arrival order', async () => {
    const gate = new ConcurrencyGate(2);
    const seen: number[] = [];
    const order: number[] = [];
    const tasks = [1, 2, 3, 4, 5].map((id) => controlled(gate, seen, order, id));
    await ticks();
    expect(order).toEqual([1, 2]);
    expect(gate.load).toEqual({ running: 2, waiting: 3 });
    tasks[1]!.release();
    await ticks();
    expect(order).toEqual([1, 2, 3]);
    tasks[0]!.release();
    tasks[2]!.release();
    await ticks();
    expect(order).toEqual([1, 2, 3, 4, 5]);
    tasks[3]!.release();
    tasks[4]!.release();
    expect(await Promise.all(tasks.map((t) => t.result))).toEqual([1, 2, 3, 4, 5]);
    expect(Math.max(...seen)).toBeLessThanOrEqual(2);
    expect(gate.load).toEqual({ running: 0, waiting: 0 });
  });

  it('frees the slot of a task that fails, and passes its error on', async () => {
    const gate = new ConcurrencyGate(1);
    const seen: number[] = [];
    const order: number[] = [];
    const failing = controlled(gate, seen, order, 1, true);
    const next = controlled(gate, seen, order, 2);
    await ticks();
    expect(order).toEqual([1]);
    failing.release();
    await expect(failing.result).rejects.toThrow('task 1 failed');
    await ticks();
    expect(order).toEqual([1, 2]);
    next.release();
    expect(await next.result).toBe(2);
    expect(gate.load).toEqual({ running: 0, waiting: 0 });
  });

  it('refuses a gate without a slot', () => {
    expect(() => new ConcurrencyGate(0)).toThrow(RangeError);
    expect(() => new ConcurrencyGate(1.5)).toThrow(RangeError);
  });

  it('lets a password hasher with one slot hash and verify many passwords at once', async () => {
    const hasher = new PasswordHasher({ memoryCost: 7168, timeCost: 1, parallelism: 1 }, 1);
    const passwords = ['first password', 'second password', 'third password'];
    const hashes = await Promise.all(passwords.map((p) => hasher.hash(p)));
    const checks = await Promise.all([
      ...hashes.map((h, i) => hasher.verify(h, passwords[i]!)),
      hasher.verify(hashes[0]!, 'second password'),
      hasher.verifyDummy('anything'),
    ]);
    expect(checks).toEqual([true, true, true, false, false]);
  });
});
