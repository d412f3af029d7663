/**
 * A minimal MaxMind DB writer for tests, following the format spec (https://maxmind.github.io/MaxMind-DB/):
 *
 *   [binary search tree][16 zero bytes][data section]["\xAB\xCD\xEFMaxMind.com"][metadata map]
 *
 * The tree has one node per bit of address prefix; each node is two records (left = bit 0, right = bit 1) of
 * `recordSize` bits. A record is a node number (< node_count), node_count itself for "no data", or
 * node_count + 16 + offset into the data section. An IPv6 tree holds IPv4 networks at ::/96 (how MaxMind's
 * readers look up IPv4 in an IPv6 database); an `ipVersion: 4` tree holds IPv4 only.
 *
 * Every entry's data is encoded in place (no pointers, no de-duplication): fine for a handful of networks.
 * JS values map to types: string → utf8_string, boolean → boolean, integer number in uint32 range → uint32,
 * other number → double, bigint → uint64, array → array, plain object → map. `uint16()` / `double()` force
 * a type where the inference would pick another one.
 */
import { writeFileSync } from 'node:fs';
import { isIP } from 'node:net';

export interface MmdbEntry {
  /** e.g. "81.2.69.0/24" or "2001:db8:1::/48". */
  cidr: string;
  data: Record<string, unknown>;
}

export interface MmdbOptions {
  recordSize?: 24 | 28;
  ipVersion?: 4 | 6;
  databaseType?: string;
  /** Seconds since the epoch; fixed by default so the file is reproducible. */
  buildEpoch?: number;
}

/** A number to encode with an explicit type. */
class Typed {
  constructor(
    readonly type: 'uint16' | 'double',
    readonly value: number,
  ) {}
}
export const uint16 = (n: number) => new Typed('uint16', n);
export const double = (n: number) => new Typed('double', n);

// Data section type numbers (spec, "Output Data Section").
const T = { utf8: 2, double: 3, uint16: 5, uint32: 6, map: 7, uint64: 9, array: 11, boolean: 14 } as const;

/** Control byte(s): 3 type bits (0 = extended, type - 7 in the next byte) and 5 size bits (29..31 = size follows). */
function control(type: number, size: number): Buffer {
  const typeBits = type <= 7 ? type : 0;
  const extended = type <= 7 ? [] : [type - 7];
  let sizeBits: number;
  let sizeBytes: number[];
  if (size < 29) [sizeBits, sizeBytes] = [size, []];
  else if (size < 285) [sizeBits, sizeBytes] = [29, [size - 29]];
  else if (size < 65_821) [sizeBits, sizeBytes] = [30, [(size - 285) >> 8, (size - 285) & 0xff]];
  else {
    const n = size - 65_821;
    [sizeBits, sizeBytes] = [31, [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]];
  }
  return Buffer.from([(typeBits << 5) | sizeBits, ...extended, ...sizeBytes]);
}

/** Unsigned integer, big-endian without leading zero bytes (the short form the spec allows and MaxMind writes). */
function encodeUint(type: number, n: bigint): Buffer {
  const bytes: number[] = [];
  for (let v = n; v > 0n; v >>= 8n) bytes.unshift(Number(v & 0xffn));
  return Buffer.concat([control(type, bytes.length), Buffer.from(bytes)]);
}

function encodeDouble(n: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeDoubleBE(n);
  return Buffer.concat([control(T.double, 8), body]);
}

/** One value in the data section's encoding. */
export function encode(value: unknown): Buffer {
  if (value instanceof Typed) return value.type === 'double' ? encodeDouble(value.value) : encodeUint(T.uint16, BigInt(value.value));
  if (typeof value === 'string') {
    const body = Buffer.from(value, 'utf8');
    return Buffer.concat([control(T.utf8, body.length), body]);
  }
  if (typeof value === 'boolean') return control(T.boolean, value ? 1 : 0); // the size bits are the value
  if (typeof value === 'bigint') return encodeUint(T.uint64, value);
  if (typeof value === 'number') {
    return Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff ? encodeUint(T.uint32, BigInt(value)) : encodeDouble(value);
  }
  if (Array.isArray(value)) return Buffer.concat([control(T.array, value.length), ...value.map(encode)]);
  if (typeof value === 'object' && value !== null) {
    const pairs = Object.entries(value);
    return Buffer.concat([control(T.map, pairs.length), ...pairs.flatMap(([k, v]) => [encode(k), encode(v)])]);
  }
  throw new Error(`mmdb-writer: cannot encode ${typeof value}`);
}

type Bit = 0 | 1;

/** "a.b.c.d/n" or "v6::/n" as the network's bits (most significant first) within the tree's address space. */
function prefixBits(cidr: string, ipVersion: 4 | 6): Bit[] {
  const [address = '', len = ''] = cidr.split('/');
  const family = isIP(address);
  const prefix = Number(len);
  let bytes: number[];
  if (family === 4) bytes = address.split('.').map(Number);
  else if (family === 6 && !address.includes('.')) {
    const [head = '', tail] = address.split('::');
    const groups = (s: string) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
    const [l, r] = [groups(head), groups(tail ?? '')];
    const all = tail === undefined ? l : [...l, ...new Array<number>(8 - l.length - r.length).fill(0), ...r];
    bytes = all.flatMap((g) => [g >> 8, g & 0xff]);
  } else throw new Error(`mmdb-writer: bad CIDR ${cidr}`);
  const width = bytes.length * 8;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > width) throw new Error(`mmdb-writer: bad prefix in ${cidr}`);
  if (family === 6 && ipVersion === 4) throw new Error(`mmdb-writer: IPv6 network ${cidr} in an IPv4 tree`);
  const bits = bytes.flatMap((b) => [7, 6, 5, 4, 3, 2, 1, 0].map((i) => ((b >> i) & 1) as Bit)).slice(0, prefix);
  // IPv4 inside an IPv6 tree lives under 96 leading zero bits.
  return family === 4 && ipVersion === 6 ? [...new Array<Bit>(96).fill(0), ...bits] : bits;
}

/** A record while building: a node index, data at a data-section offset, or empty. */
type Rec = { node: number } | { data: number } | null;

export function writeMmdb(path: string, entries: MmdbEntry[], opts: MmdbOptions = {}): void {
  const recordSize = opts.recordSize ?? 28;
  const ipVersion = opts.ipVersion ?? 6;

  // Data section: each entry's value encoded once.
  const chunks: Buffer[] = [];
  let dataLength = 0;
  const offsets = entries.map((e) => {
    const buf = encode(e.data);
    chunks.push(buf);
    dataLength += buf.length;
    return dataLength - buf.length;
  });

  // Tree: node 0 is the root. Wider networks go in first so that narrower ones split them.
  const nodes: [Rec, Rec][] = [[null, null]];
  const order = entries.map((e, i) => ({ bits: prefixBits(e.cidr, ipVersion), offset: offsets[i]! })).sort((a, b) => a.bits.length - b.bits.length);
  for (const { bits, offset } of order) {
    if (bits.length === 0) throw new Error('mmdb-writer: a /0 network is not supported');
    let node = 0;
    for (let depth = 0; depth < bits.length - 1; depth++) {
      const side = bits[depth]!;
      const rec = nodes[node]![side];
      if (rec !== null && 'node' in rec) {
        node = rec.node;
        continue;
      }
      // Empty, or data of a wider network: a new node whose both halves keep what was there.
      nodes.push([rec, rec]);
      nodes[node]![side] = { node: nodes.length - 1 };
      node = nodes.length - 1;
    }
    nodes[node]![bits[bits.length - 1]!] = { data: offset };
  }

  const nodeCount = nodes.length;
  const value = (rec: Rec): number => (rec === null ? nodeCount : 'node' in rec ? rec.node : nodeCount + 16 + rec.data);
  const max = 2 ** recordSize;
  const nodeBytes = recordSize / 4; // two records per node
  const tree = Buffer.alloc(nodeCount * nodeBytes);
  nodes.forEach(([l, r], i) => {
    const [left, right] = [value(l), value(r)];
    if (left >= max || right >= max) throw new Error('mmdb-writer: record overflows the record size');
    const at = i * nodeBytes;
    if (recordSize === 24) {
      tree.writeUIntBE(left, at, 3);
      tree.writeUIntBE(right, at + 3, 3);
    } else {
      // 28 bits: low 24 bits of each record around a middle byte holding the left and right high nibbles.
      tree.writeUIntBE(left & 0xff_ffff, at, 3);
      tree[at + 3] = ((left >>> 24) << 4) | (right >>> 24);
      tree.writeUIntBE(right & 0xff_ffff, at + 4, 3);
    }
  });

  const metadata = encode({
    node_count: nodeCount,
    record_size: uint16(recordSize),
    ip_version: uint16(ipVersion),
    database_type: opts.databaseType ?? 'GeoLite2-City',
    languages: ['en'],
    binary_format_major_version: uint16(2),
    binary_format_minor_version: uint16(0),
    build_epoch: BigInt(opts.buildEpoch ?? 1_700_000_000),
    description: { en: 'Stepwise test database' },
  });

  writeFileSync(
    path,
    Buffer.concat([tree, Buffer.alloc(16), ...chunks, Buffer.from('abcdef4d61784d696e642e636f6d', 'hex'), metadata]),
  );
}
