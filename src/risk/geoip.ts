/**
 * The location signal's GeoIP lookups and the pure helpers around them. The database is a MaxMind DB file
 * shaped like GeoLite2-City / GeoIP2-City (`country.iso_code`, `city.names.en`, `location.latitude/longitude`),
 * read by the `maxmind` package. Lookups never throw: a bad address string, a private address or an address
 * the database does not know all give null.
 */
import { readFile } from 'node:fs/promises';
import { BlockList, isIP } from 'node:net';
import type { Reader, Response } from 'maxmind';
import { lazy } from '../lazy.js';

// Only a deployment with GEOIP_DB loads the MaxMind reader (src/lazy.ts).
const maxmind = lazy<typeof import('maxmind')>('maxmind');

export interface GeoPoint {
  /** ISO 3166-1 alpha-2 code, e.g. "GB". */
  country: string | null;
  /** English city name. */
  city: string | null;
  latitude: number | null;
  longitude: number | null;
}

/** Starts the metadata section, which ends the file (spec: "\\xAB\\xCD\\xEFMaxMind.com"). */
const METADATA_MARKER = Buffer.from('abcdef4d61784d696e642e636f6d', 'hex');

/** Earth's mean radius, as the haversine formula is usually given. */
const EARTH_RADIUS_KM = 6371;

/** Addresses no GeoIP database can place: private, loopback, link-local, CGNAT, multicast, reserved. */
const NON_PUBLIC = (() => {
  const list = new BlockList();
  const v4: [string, number][] = [
    ['0.0.0.0', 8],
    ['10.0.0.0', 8],
    ['100.64.0.0', 10],
    ['127.0.0.0', 8],
    ['169.254.0.0', 16],
    ['172.16.0.0', 12],
    ['192.168.0.0', 16],
    ['224.0.0.0', 4],
    ['240.0.0.0', 4],
  ];
  const v6: [string, number][] = [
    ['::', 128],
    ['::1', 128],
    ['fc00::', 7],
    ['fe80::', 10],
    ['ff00::', 8],
  ];
  for (const [net, prefix] of v4) list.addSubnet(net, prefix, 'ipv4');
  for (const [net, prefix] of v6) list.addSubnet(net, prefix, 'ipv6');
  return list;
})();

interface ParsedIp {
  family: 'ipv4' | 'ipv6';
  /** 4 or 16 bytes, network order. */
  bytes: number[];
}

/**
 * A textual address as bytes, or null when it is not an address. IPv4-mapped IPv6 (`::ffff:1.2.3.4`, also in
 * hex form) becomes IPv4, so a dual-stack socket's view of an IPv4 client matches its plain form. A zone
 * index (`fe80::1%eth0`) is dropped.
 */
function parseIp(input: string): ParsedIp | null {
  if (typeof input !== 'string') return null;
  const family = isIP(input);
  if (family === 4) return { family: 'ipv4', bytes: input.split('.').map(Number) };
  if (family !== 6) return null;

  let text = input.toLowerCase();
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  // A trailing dotted quad stands for the last two groups.
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = text.slice(0, quad.index) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16);
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const groupsOf = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const left = groupsOf(head);
  const right = groupsOf(tail);
  const groups = tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  if (groups.length !== 8 || groups.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff)) return null;

  const bytes = groups.flatMap((g) => [g >> 8, g & 0xff]);
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? { family: 'ipv4', bytes: bytes.slice(12) } : { family: 'ipv6', bytes };
}

/** Canonical text: dotted quad, or RFC 5952 IPv6 (lower case, longest run of two or more zero groups as "::"). */
function formatIp({ family, bytes }: ParsedIp): string {
  if (family === 'ipv4') return bytes.join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [bestStart, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/**
 * The network a client address belongs to, for "new network" checks: IPv4 /24 ("203.0.113.0/24"), IPv6 /48
 * ("2001:db8:1::/48"). Null for anything that is not an address.
 */
export function networkPrefix(ip: string): string | null {
  const parsed = parseIp(ip);
  if (!parsed) return null;
  const keep = parsed.family === 'ipv4' ? 3 : 6;
  const bytes = parsed.bytes.map((b, i) => (i < keep ? b : 0));
  return `${formatIp({ family: parsed.family, bytes })}/${keep * 8}`;
}

/** Great-circle distance (haversine). */
export function distanceKm(a: { latitude: number; longitude: number }, b: { latitude: number; longitude: number }): number {
  const rad = (deg: number) => (deg * Math.PI) / 180;
  const dLat = rad(b.latitude - a.latitude);
  const dLon = rad(b.longitude - a.longitude);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.latitude)) * Math.cos(rad(b.latitude)) * Math.sin(dLon / 2) ** 2;
  // min(): rounding can push h a hair above 1 for antipodal points.
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/**
 * Speed needed to get from `a` to `b` (`at`: epoch seconds), or null when either lacks coordinates. Times
 * closer than 1 s count as 1 s (clock granularity), except that the same instant in two places is Infinity.
 */
export function speedKmh(a: GeoPoint & { at: number }, b: GeoPoint & { at: number }): number | null {
  if (a.latitude === null || a.longitude === null || b.latitude === null || b.longitude === null) return null;
  const km = distanceKm({ latitude: a.latitude, longitude: a.longitude }, { latitude: b.latitude, longitude: b.longitude });
  const seconds = Math.abs(b.at - a.at);
  if (km === 0) return 0;
  if (seconds === 0) return Infinity;
  return km / (Math.max(1, seconds) / 3600);
}

/** A field of an untyped record, or undefined. */
function field(record: unknown, ...path: string[]): unknown {
  let value = record;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function text(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

function coordinate(value: unknown, limit: number): number | null {
  return typeof value === 'number' && Number.isFinite(value) && Math.abs(value) <= limit ? value : null;
}

/** The GeoPoint of a database record; null when the record places nothing. */
function toGeoPoint(record: unknown): GeoPoint | null {
  let latitude = coordinate(field(record, 'location', 'latitude'), 90);
  let longitude = coordinate(field(record, 'location', 'longitude'), 180);
  // Half a coordinate is no position.
  if (latitude === null || longitude === null) latitude = longitude = null;
  const point: GeoPoint = {
    country: text(field(record, 'country', 'iso_code')),
    city: text(field(record, 'city', 'names', 'en')),
    latitude,
    longitude,
  };
  return point.country === null && point.city === null && point.latitude === null ? null : point;
}

export class GeoIp {
  private constructor(
    private readonly reader: Reader<Response>,
    private readonly ipVersion: number,
  ) {}

  /** Opens a MaxMind DB file; a missing, unreadable or corrupt file is an Error naming the path. */
  static async open(path: string): Promise<GeoIp> {
    const fail = (why: string, cause?: unknown) =>
      new Error(`GeoIP database ${path} cannot be opened: ${why}${cause === undefined ? '' : `: ${cause instanceof Error ? cause.message : String(cause)}`}`, {
        cause,
      });
    let db: Buffer;
    try {
      db = await readFile(path);
    } catch (err) {
      throw fail('cannot read the file', err);
    }
    if (db[0] === 0x1f && db[1] === 0x8b) throw fail('the file is gzip-compressed; decompress it first');
    // The reader looks for this marker itself but accepts nonsense when it is missing; check up front.
    const marker = db.lastIndexOf(METADATA_MARKER);
    if (marker < 0) throw fail('not a MaxMind DB file (no metadata section)');
    let reader: Reader<Response>;
    try {
      reader = new (maxmind().Reader)<Response>(db);
    } catch (err) {
      throw fail('bad metadata', err);
    }
    const m = reader.metadata;
    const shapeOk =
      m.binaryFormatMajorVersion === 2 &&
      (m.ipVersion === 4 || m.ipVersion === 6) &&
      [24, 28, 32].includes(m.recordSize) &&
      Number.isInteger(m.nodeCount) &&
      m.nodeCount > 0 &&
      // Tree, then the 16-byte separator, then data, all before the metadata.
      m.searchTreeSize + 16 <= marker;
    if (!shapeOk) throw fail('bad metadata or truncated file');
    try {
      // One walk through the tree catches a damaged file now rather than at sign-in.
      reader.get(m.ipVersion === 4 ? '1.1.1.1' : '2001:4860::1');
    } catch (err) {
      throw fail('corrupt search tree or data', err);
    }
    return new GeoIp(reader, m.ipVersion);
  }

  /** Where the address is, or null (not an address, private, IPv6 in an IPv4-only database, not listed). */
  lookup(ip: string): GeoPoint | null {
    const parsed = parseIp(ip);
    if (!parsed) return null;
    const address = formatIp(parsed);
    if (NON_PUBLIC.check(address, parsed.family)) return null;
    if (parsed.family === 'ipv6' && this.ipVersion === 4) return null;
    try {
      return toGeoPoint(this.reader.get(address));
    } catch {
      // A damaged region of the file: treat as unknown rather than failing the sign-in.
      return null;
    }
  }
}
