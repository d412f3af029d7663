/** GeoIP lookups against a real .mmdb file written by the test, and the pure distance/speed/prefix helpers. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GeoIp, distanceKm, networkPrefix, speedKmh, type GeoPoint } from '../../src/risk/geoip.js';
import { type MmdbEntry, type MmdbOptions, double, writeMmdb } from '../helpers/mmdb-writer.js';

/** A GeoLite2-City-shaped record (with a few of the fields real ones carry beside the ones read). */
function city(iso: string, name: string, latitude: number, longitude: number): Record<string, unknown> {
  return {
    city: { geoname_id: 1, names: { en: name, de: `${name} (de)` } },
    country: { geoname_id: 2, iso_code: iso, is_in_european_union: iso === 'FR', names: { en: iso } },
    location: { accuracy_radius: 100, latitude: double(latitude), longitude: double(longitude), time_zone: 'UTC' },
    subdivisions: [{ iso_code: 'X', names: { en: 'Region' } }],
  };
}

const LONDON = { country: 'GB', city: 'London', latitude: 51.5142, longitude: -0.0931 };
const BOXFORD = { country: 'GB', city: 'Boxford', latitude: 51.75, longitude: -1.25 };
const CHANGCHUN = { country: 'CN', city: 'Changchun', latitude: 43.88, longitude: 125.3228 };
const LYON = { country: 'FR', city: 'Lyon', latitude: 45.75, longitude: 4.85 };

const V4_ENTRIES: MmdbEntry[] = [
  { cidr: '81.2.69.0/24', data: city('GB', 'London', 51.5142, -0.0931) },
  // A wider country-only network around London's /24, listed after it: the narrower one must still win.
  { cidr: '81.2.0.0/16', data: { country: { iso_code: 'GB' } } },
  { cidr: '2.125.160.0/20', data: city('GB', 'Boxford', 51.75, -1.25) },
  { cidr: '175.16.199.0/24', data: city('CN', 'Changchun', 43.88, 125.3228) },
  // Listed, but private: lookups must not report it.
  { cidr: '10.0.0.0/8', data: city('US', 'Intranet', 40, -70) },
];
const V6_ENTRIES: MmdbEntry[] = [{ cidr: '2001:db8:1::/48', data: city('FR', 'Lyon', 45.75, 4.85) }];

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'stepwise-geoip-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function openDb(name: string, entries: MmdbEntry[], opts?: MmdbOptions): Promise<GeoIp> {
  const path = join(dir, name);
  writeMmdb(path, entries, opts);
  return GeoIp.open(path);
}

describe.each([
  { recordSize: 24, name: 'ipv6-24.mmdb' },
  { recordSize: 28, name: 'ipv6-28.mmdb' },
] as const)('GeoIp on an IPv6 tree, $recordSize-bit records', ({ recordSize, name }) => {
  let geo: GeoIp;
  beforeAll(async () => {
    geo = await openDb(name, [...V4_ENTRIES, ...V6_ENTRIES], { recordSize });
  });

  it('finds city, country and coordinates for IPv4 networks, edges included', () => {
    expect(geo.lookup('81.2.69.142')).toEqual(LONDON);
    expect(geo.lookup('81.2.69.0')).toEqual(LONDON);
    expect(geo.lookup('81.2.69.255')).toEqual(LONDON);
    expect(geo.lookup('2.125.160.216')).toEqual(BOXFORD);
    expect(geo.lookup('2.125.175.255')).toEqual(BOXFORD);
    expect(geo.lookup('175.16.199.7')).toEqual(CHANGCHUN);
  });

  it('finds IPv6 networks, and IPv4-mapped IPv6 as its IPv4 address', () => {
    expect(geo.lookup('2001:db8:1::1')).toEqual(LYON);
    expect(geo.lookup('2001:DB8:1:ffff:ffff:ffff:ffff:ffff')).toEqual(LYON);
    expect(geo.lookup('::ffff:81.2.69.142')).toEqual(LONDON);
    expect(geo.lookup('::ffff:af10:c707')).toEqual(CHANGCHUN);
  });

  it('a record without a city or location gives nulls for those', () => {
    expect(geo.lookup('81.2.70.1')).toEqual({ country: 'GB', city: null, latitude: null, longitude: null });
  });

  it('an address outside every network is null', () => {
    expect(geo.lookup('81.3.0.1')).toBeNull();
    expect(geo.lookup('2.125.176.0')).toBeNull();
    expect(geo.lookup('175.16.200.1')).toBeNull();
    expect(geo.lookup('8.8.8.8')).toBeNull();
    expect(geo.lookup('2001:db8:2::1')).toBeNull();
  });

  it('private and loopback addresses are null, even when the database lists them', () => {
    expect(geo.lookup('10.1.2.3')).toBeNull();
    expect(geo.lookup('::ffff:10.1.2.3')).toBeNull();
    expect(geo.lookup('127.0.0.1')).toBeNull();
    expect(geo.lookup('192.168.1.1')).toBeNull();
    expect(geo.lookup('::1')).toBeNull();
    expect(geo.lookup('fe80::1%eth0')).toBeNull();
  });

  it('garbage is null, never an exception', () => {
    for (const bad of ['', 'not-an-ip', '999.1.1.1', '1.2.3', '81.2.69.142/24', '81.2.69.142:443', '::gg', '1:2:3:4:5:6:7:8:9']) {
      expect(geo.lookup(bad), bad).toBeNull();
    }
    expect(geo.lookup(undefined as unknown as string)).toBeNull();
  });
});

describe('GeoIp on an IPv4-only tree', () => {
  it('finds IPv4 networks; IPv6 addresses are null', async () => {
    const geo = await openDb('ipv4.mmdb', V4_ENTRIES, { ipVersion: 4, recordSize: 24 });
    expect(geo.lookup('81.2.69.142')).toEqual(LONDON);
    expect(geo.lookup('::ffff:175.16.199.7')).toEqual(CHANGCHUN);
    expect(geo.lookup('81.3.0.1')).toBeNull();
    expect(geo.lookup('2001:db8:1::1')).toBeNull();
  });
});

describe('GeoIp.open', () => {
  it('a missing file is an Error naming the path', async () => {
    const path = join(dir, 'nope', 'GeoLite2-City.mmdb');
    await expect(GeoIp.open(path)).rejects.toThrow(path);
  });

  it('a file that is not a MaxMind DB is an Error naming the path', async () => {
    const text = join(dir, 'text.mmdb');
    writeFileSync(text, 'this is not a database\n'.repeat(50));
    await expect(GeoIp.open(text)).rejects.toThrow(text);
    const empty = join(dir, 'empty.mmdb');
    writeFileSync(empty, '');
    await expect(GeoIp.open(empty)).rejects.toThrow(empty);
    const gzip = join(dir, 'GeoLite2-City.mmdb.gz');
    writeFileSync(gzip, Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]));
    await expect(GeoIp.open(gzip)).rejects.toThrow(`GeoIP database ${gzip} cannot be opened: the file is gzip-compressed`);
  });

  it('a database whose tree was cut off is an Error naming the path', async () => {
    const good = join(dir, 'good.mmdb');
    writeMmdb(good, V4_ENTRIES);
    const bytes = readFileSync(good);
    // Keep the metadata (at the end) but drop most of the search tree, as a botched copy might.
    const cut = join(dir, 'cut.mmdb');
    writeFileSync(cut, bytes.subarray(bytes.length - 300));
    await expect(GeoIp.open(cut)).rejects.toThrow(cut);
  });
});

describe('distanceKm', () => {
  it('is the haversine great-circle distance on a 6371 km sphere', () => {
    // A quarter meridian is exactly π/2 · R.
    expect(distanceKm({ latitude: 0, longitude: 0 }, { latitude: 90, longitude: 0 })).toBeCloseTo((Math.PI / 2) * 6371, 6);
    expect(distanceKm(LONDON, LONDON)).toBe(0);
    // London → Paris is about 344 km.
    expect(distanceKm(LONDON, { latitude: 48.8566, longitude: 2.3522 })).toBeGreaterThan(330);
    expect(distanceKm(LONDON, { latitude: 48.8566, longitude: 2.3522 })).toBeLessThan(350);
  });

  it('London → Changchun is about 8 200 km, either way round', () => {
    const d = distanceKm(LONDON, CHANGCHUN);
    expect(d).toBeGreaterThan(8100);
    expect(d).toBeLessThan(8300);
    expect(distanceKm(CHANGCHUN, LONDON)).toBeCloseTo(d, 9);
  });

  it('antipodes: half the circumference, no NaN', () => {
    expect(distanceKm({ latitude: 0, longitude: 0 }, { latitude: 0, longitude: 180 })).toBeCloseTo(Math.PI * 6371, 6);
  });
});

describe('speedKmh', () => {
  const T0 = 1_700_000_000;
  const at = (p: GeoPoint, t: number) => ({ ...p, at: t });

  it('London, then Changchun an hour later, is faster than any airliner', () => {
    const v = speedKmh(at(LONDON, T0), at(CHANGCHUN, T0 + 3600))!;
    expect(v).toBeGreaterThan(900);
    expect(v).toBeCloseTo(distanceKm(LONDON, CHANGCHUN), 6);
    // Order of the two points does not matter.
    expect(speedKmh(at(CHANGCHUN, T0 + 3600), at(LONDON, T0))).toBeCloseTo(v, 6);
    // A day later it is plausible.
    expect(speedKmh(at(LONDON, T0), at(CHANGCHUN, T0 + 86_400))!).toBeLessThan(900);
  });

  it('the same instant in two places is Infinity; in one place it is 0', () => {
    expect(speedKmh(at(LONDON, T0), at(BOXFORD, T0))).toBe(Infinity);
    expect(speedKmh(at(LONDON, T0), at(LONDON, T0))).toBe(0);
  });

  it('counts less than a second as one second', () => {
    const km = distanceKm(LONDON, BOXFORD);
    expect(speedKmh(at(LONDON, T0), at(BOXFORD, T0 + 0.25))).toBeCloseTo(km * 3600, 6);
    expect(speedKmh(at(LONDON, T0), at(BOXFORD, T0 + 2))).toBeCloseTo(km * 1800, 6);
  });

  it('is null when either point has no coordinates', () => {
    const nowhere: GeoPoint = { country: 'GB', city: null, latitude: null, longitude: null };
    expect(speedKmh(at(nowhere, T0), at(LONDON, T0 + 60))).toBeNull();
    expect(speedKmh(at(LONDON, T0), at({ ...LONDON, longitude: null }, T0 + 60))).toBeNull();
  });
});

describe('networkPrefix', () => {
  it('IPv4: the /24', () => {
    expect(networkPrefix('203.0.113.77')).toBe('203.0.113.0/24');
    expect(networkPrefix('1.2.3.0')).toBe('1.2.3.0/24');
  });

  it('IPv4-mapped IPv6: the IPv4 /24', () => {
    expect(networkPrefix('::ffff:203.0.113.77')).toBe('203.0.113.0/24');
    expect(networkPrefix('::FFFF:cb00:714d')).toBe('203.0.113.0/24');
  });

  it('IPv6: the /48, canonical lower-case text', () => {
    expect(networkPrefix('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1::/48');
    expect(networkPrefix('2001:0DB8:0001:abcd::1')).toBe('2001:db8:1::/48');
    expect(networkPrefix('2001:db8::1')).toBe('2001:db8::/48');
    expect(networkPrefix('2001::1')).toBe('2001::/48');
    expect(networkPrefix('::1')).toBe('::/48');
    expect(networkPrefix('fe80::1%eth0')).toBe('fe80::/48');
  });

  it('garbage: null', () => {
    for (const bad of ['', 'garbage', '256.1.1.1', '1.2.3', '1.2.3.4/24', '1.2.3.4:80', '01.2.3.4', '2001:db8::1::2', ':::', 'gggg::1']) {
      expect(networkPrefix(bad), bad).toBeNull();
    }
  });
});
