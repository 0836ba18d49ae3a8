import semver from 'semver';
import { describe, expect, it } from 'vitest';

import { compareVersions, isSortKey, parseVersion, precedenceKey } from '../../src/services/versions/semverOrder.js';

/**
 * PostgreSQL orders versions by `sort_key COLLATE "C"`, i.e. by the bytes of precedenceKey.
 * Whatever a client sees as "latest", "newer" or "the offer" depends on that byte order
 * agreeing with SemVer precedence (semver.compare) for every pair of versions.
 */

/** mulberry32: a small seeded generator, so a failure reproduces with the same versions. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function generator(seed: number) {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const int = (max: number) => Math.floor(random() * max);
  // Mostly small numbers (so versions collide and prereleases decide), sometimes multi-digit
  // ones whose text order differs from numeric order (9 < 10, 99 < 100).
  const number = () =>
    random() < 0.7 ? String(int(4)) : pick(['9', '10', '11', '99', '100', '123', '1000', '65535', '2147483647', '9007199254740991']);
  const alphabet = 'abcxyzABCXYZ-0123456789';
  const alphanumeric = () => {
    if (random() < 0.5) return pick(['alpha', 'beta', 'rc', 'RC', 'a', 'b', 'alpha-1', 'x-y', '-', '--', '0a', '1a', '9z', 'a1', 'z']);
    let text = '';
    const length = 1 + int(6);
    while (text.length < length) text += alphabet[int(alphabet.length)];
    return /^\d+$/.test(text) ? `${text}x` : text; // all digits would be numeric
  };
  const identifier = () => (random() < 0.45 ? number() : alphanumeric());
  return (): string => {
    let version = `${number()}.${number()}.${number()}`;
    if (random() < 0.75) version += `-${Array.from({ length: 1 + int(4) }, identifier).join('.')}`;
    if (random() < 0.15) version += `+build.${int(100)}`;
    return version;
  };
}

const sign = (n: number) => (n < 0 ? -1 : n > 0 ? 1 : 0);
/** Byte order, as `COLLATE "C"` compares. */
const keyOrder = (a: string, b: string) => sign(Buffer.compare(Buffer.from(parseVersion(a).sortKey), Buffer.from(parseVersion(b).sortKey)));

describe('precedenceKey byte order', () => {
  const next = generator(20240917);
  const versions = Array.from({ length: 4000 }, next);

  it('generates versions semver itself accepts (the test would prove nothing otherwise)', () => {
    for (const version of versions) expect(semver.valid(version), version).toBe(version.replace(/\+.*/, '')); // valid() drops +build
    expect(new Set(versions).size).toBeGreaterThan(2500);
    expect(versions.filter((v) => v.includes('-')).length).toBeGreaterThan(2000);
  });

  it('agrees with semver.compare on every pair of neighbours once sorted, and on random pairs', () => {
    const sorted = [...versions].sort((a, b) => semver.compare(a, b));
    const disagreements: string[] = [];
    for (let i = 1; i < sorted.length; i++) {
      const [a, b] = [sorted[i - 1]!, sorted[i]!];
      if (keyOrder(a, b) !== semver.compare(a, b)) disagreements.push(`${a} vs ${b}`);
    }
    const random = seededRandom(7);
    for (let n = 0; n < 20_000; n++) {
      const a = versions[Math.floor(random() * versions.length)]!;
      const b = versions[Math.floor(random() * versions.length)]!;
      if (keyOrder(a, b) !== semver.compare(a, b)) disagreements.push(`${a} vs ${b}`);
    }
    expect(disagreements.slice(0, 10)).toEqual([]);
  });

  it('sorting by key gives the same sequence as sorting by semver.compare', () => {
    const byKey = [...versions].sort((a, b) => keyOrder(a, b) || a.localeCompare(b));
    const bySemver = [...versions].sort((a, b) => semver.compare(a, b) || a.localeCompare(b));
    expect(byKey.map((v) => parseVersion(v).sortKey)).toEqual(bySemver.map((v) => parseVersion(v).sortKey));
  });

  it.each([
    ['1.0.0-alpha.10', '1.0.0-alpha.9'],
    ['1.0.0', '1.0.0-rc.1'],
    ['1.0.0-alpha.1', '1.0.0-alpha'],
    ['1.0.0-alpha.beta', '1.0.0-alpha.1'],
    ['1.0.0-beta', '1.0.0-alpha.beta'],
    ['1.0.0-alpha1', '1.0.0-alpha'],
    ['1.0.0-a', '1.0.0-999999'],
    ['1.0.0-alpha-1', '1.0.0-alpha'],
    ['1.0.0-alpha-', '1.0.0-alpha.1'],
    ['10.0.0', '9.99.99'],
    ['1.10.0', '1.9.0'],
    ['1.0.10', '1.0.9'],
    ['9007199254740991.0.0', '9007199254740990.9007199254740991.9007199254740991'],
    ['1.0.0-rc.9007199254740991', '1.0.0-rc.9007199254740990'],
    ['1.0.0-rc.1000000000000000', '1.0.0-rc.999999999999999'],
    // 16-digit parts (up to Number.MAX_SAFE_INTEGER) above 15-digit ones: every part is padded to 16 digits.
    ['1000000000000000.0.0', '999999999999999.0.0'],
    ['0.1000000000000000.0', '0.999999999999999.0'],
    ['0.0.1000000000000000', '0.0.999999999999999'],
    ['1000000000000000.0.0-rc.1', '999999999999999.999999999999999.999999999999999'],
  ])('%s sorts above %s', (higher, lower) => {
    expect(keyOrder(higher, lower)).toBe(1);
    expect(keyOrder(lower, higher)).toBe(-1);
  });

  it('gives every part exactly 16 digits, so keys of all versions line up byte by byte', () => {
    expect(parseVersion('1.2.3').sortKey).toBe('0000000000000001.0000000000000002.0000000000000003~');
    expect(parseVersion('9007199254740991.0.0-rc.10').sortKey).toBe('9007199254740991.0000000000000000.0000000000000000-1rc\x0100210');
    expect(isSortKey(parseVersion('1000000000000000.1.1').sortKey)).toBe(true);
  });

  it('recognises exactly the keys precedenceKey produces (cursors carry one; a forged one must not reach SQL)', () => {
    for (const version of ['1.2.3', '1.0.0-rc.1', '1.0.0-alpha-beta.10.x', `1.0.0-${'a'.repeat(200)}`]) expect(isSortKey(parseVersion(version).sortKey), version).toBe(true);
    const key = parseVersion('1.2.3').sortKey;
    for (const forged of [`x${key}`, `${key}x`, `${key}\n`, `${key.slice(0, -1)}-a'; drop table versions; --`, `${key.slice(0, -1)}-`, key.slice(1), `${key.slice(0, -1)}-${'a'.repeat(601)}`, '']) {
      expect(isSortKey(forged), forged).toBe(false);
    }
    for (const notText of [42, null, undefined, { toString: () => key }]) expect(isSortKey(notText)).toBe(false);
  });

  it('ignores build metadata: 1.0.0+a and 1.0.0+b have one key', () => {
    expect(parseVersion('1.0.0+a').sortKey).toBe(parseVersion('1.0.0+b').sortKey);
    expect(parseVersion('1.0.0-rc.1+x').sortKey).toBe(precedenceKey({ major: 1, minor: 0, patch: 0, prerelease: 'rc.1' }));
  });
});

describe('parseVersion strictness', () => {
  it.each([
    '1.2',
    '1',
    'v1.2.3',
    'V1.2.3',
    '=1.2.3',
    '01.2.3',
    '1.02.3',
    '1.2.03',
    '1.2.3-01',
    '1.2.3-alpha.01',
    '1.2.3-',
    '1.2.3+',
    '1.2.3-alpha..1',
    '1.2.3+build..1',
    '1.2.3-al_pha',
    '1.2.3+bu!ld',
    ' 1.2.3',
    '1.2.3 ',
    '1.2.3\n',
    '1.2.3.4',
    '-1.2.3',
    '1.2.3-é',
    '',
    '9007199254740992.0.0',
    `1.0.0-${'1'.repeat(100)}`,
    `1.0.0-${'a'.repeat(251)}`,
  ])('rejects %j with BAD_USER_INPUT naming the field', (input) => {
    let thrown: unknown;
    try {
      parseVersion(input, 'currentVersion');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ code: 'BAD_USER_INPUT', extensions: { code: 'BAD_USER_INPUT', field: 'currentVersion' } });
    expect((thrown as Error).message).toContain('currentVersion');
  });

  it('rejects values that are not strings', () => {
    for (const input of [undefined, null, 123, { version: '1.0.0' }]) {
      expect(() => parseVersion(input as never)).toThrow(/not a valid SemVer/);
    }
  });

  it.each([
    ['0.0.0', 0, 0, 0, null, null],
    ['1.0.0-0A.is.legal', 1, 0, 0, '0A.is.legal', null],
    ['1.0.0-x-y-z.--', 1, 0, 0, 'x-y-z.--', null],
    ['1.0.0+001', 1, 0, 0, null, '001'],
    ['1.0.0-alpha+001.sha-5114f85', 1, 0, 0, 'alpha', '001.sha-5114f85'],
    ['9007199254740991.2147483647.0', 9007199254740991, 2147483647, 0, null, null],
    ['1.0.0-9007199254740991', 1, 0, 0, '9007199254740991', null],
  ])('accepts %s', (input, major, minor, patch, prerelease, build) => {
    expect(parseVersion(input)).toMatchObject({ version: input, major, minor, patch, prerelease, build });
  });

  it('accepts versions up to 256 characters and refuses longer ones', () => {
    const longest = `1.0.0-${'a'.repeat(250)}`;
    expect(longest).toHaveLength(256);
    expect(parseVersion(longest).prerelease).toHaveLength(250);
    expect(() => parseVersion(`${longest}b`)).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT' }));
  });

  it('says what is wrong and how to fix it, naming the field (version by default) and quoting at most 80 characters', () => {
    expect(() => parseVersion('1.2')).toThrow(
      expect.objectContaining({
        message: 'version "1.2" is not a valid SemVer 2.0.0 version: use MAJOR.MINOR.PATCH with optional -prerelease and +build, e.g. 1.4.0 or 2.0.0-rc.1 (no "v" prefix, no leading zeros)',
        extensions: expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'version' }),
      }),
    );
    expect(() => parseVersion('x'.repeat(300), 'toVersion')).toThrow(`toVersion "${'x'.repeat(80)}" is not a valid SemVer 2.0.0 version`);
  });

  it('refuses numeric prerelease identifiers above 2^53 - 1, which semver.compare would round to equal', () => {
    expect(() => parseVersion('1.0.0-rc.9007199254740992')).toThrow(/numeric prerelease identifier above 9007199254740991/);
    expect(() => parseVersion(`1.0.0-${'9'.repeat(99)}`)).toThrow(/numeric prerelease identifier above/);
  });

  it('accepts exactly what the SemVer 2.0.0 grammar accepts among the generated versions', () => {
    const next = generator(99);
    for (let n = 0; n < 2000; n++) {
      const version = next();
      expect(() => parseVersion(version), version).not.toThrow();
    }
  });
});

describe('compareVersions', () => {
  it('names the argument that is not SemVer', () => {
    expect(() => compareVersions('1.0', '1.0.0')).toThrow(/version1/);
    expect(() => compareVersions('1.0.0', 'v1.0.0')).toThrow(/version2/);
  });

  it('reports result, newer and difference as semver does', () => {
    expect(compareVersions('1.0.0-rc.1', '1.0.0')).toEqual({ version1: '1.0.0-rc.1', version2: '1.0.0', result: -1, newer: '1.0.0', difference: 'MAJOR' });
    expect(compareVersions('1.2.3-rc.1', '1.2.3-rc.2')).toMatchObject({ result: -1, newer: '1.2.3-rc.2', difference: 'PRERELEASE' });
    expect(compareVersions('2.0.0', '1.5.0')).toMatchObject({ result: 1, newer: '2.0.0', difference: 'MAJOR' });
    expect(compareVersions('1.0.0+a', '1.0.0+b')).toMatchObject({ result: 0, newer: null, difference: null });
  });
});
