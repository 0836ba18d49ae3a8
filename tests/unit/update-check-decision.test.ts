import { describe, expect, it } from 'vitest';

import { rolloutBucket } from '../../src/services/distribution/bucketing.js';
import type { LiveRelease, ReleaseState } from '../../src/services/distribution/releaseState.js';
import { CLIENT_ID_MAX_LENGTH, checkUpdate, chooseRelease, parseUpdateCheck } from '../../src/services/distribution/updateCheck.js';
import { parseVersion } from '../../src/services/versions/semverOrder.js';

/**
 * The update check's decision (the contract's "Update check" and "Gradual rollouts" rules) as a
 * pure function of a release state: which release a client is offered, whether it is a delta,
 * a rollback, mandatory — or nothing.
 */

const OWNER = { extensionId: 'ext.decision', productId: null };
let sequence = 0;

/** A live release of `toVersion` (full package, IMMEDIATE unless overridden). */
function release(toVersion: string, overrides: Partial<LiveRelease> = {}): LiveRelease {
  const parsed = parseVersion(toVersion);
  sequence += 1;
  return {
    distributionId: `dist-${sequence}`,
    packageId: `pkg-${sequence}`,
    percentage: 100,
    salt: `salt-${sequence}`,
    mandatory: false,
    isRollback: false,
    toVersion,
    toVersionId: `ver-${toVersion}`,
    toSortKey: parsed.sortKey,
    toPrerelease: parsed.prerelease !== null,
    toDeprecated: false,
    isDelta: false,
    baseSortKey: null,
    deltaFromVersion: null,
    deltaFormat: null,
    targetChecksum: null,
    packageUrl: `https://cdn.test/${toVersion}.zip`,
    packageSize: 1000 + sequence,
    checksum: 'c'.repeat(64),
    releaseNotes: `notes of ${toVersion}`,
    deltas: null,
    ...overrides,
  };
}

function delta(toVersion: string, fromVersion: string, overrides: Partial<LiveRelease> = {}): LiveRelease {
  return release(toVersion, { isDelta: true, baseSortKey: parseVersion(fromVersion).sortKey, deltaFromVersion: fromVersion, deltaFormat: 'bsdiff', targetChecksum: 't'.repeat(64), ...overrides });
}

/** A state whose releases are ordered as the store orders them: highest target first, deltas first within a target. */
function state(releases: LiveRelease[], withdrawn: string[] = []): ReleaseState {
  const ordered = [...releases].sort((a, b) => (a.toSortKey === b.toSortKey ? Number(b.isDelta) - Number(a.isDelta) : a.toSortKey < b.toSortKey ? 1 : -1));
  return { key: 'k', owner: OWNER, generation: 1, releases: ordered, withdrawn: new Set(withdrawn.map((v) => parseVersion(v).sortKey)), memo: new Map() };
}

const check = (s: ReleaseState, currentVersion: string, extra: { clientId?: string | null; includePrerelease?: boolean } = {}) =>
  checkUpdate(s, parseUpdateCheck({ currentVersion, extensionId: OWNER.extensionId, ...extra }), currentVersion);

/** A client id whose bucket in `salt` is below (inside) or at/above (outside) `percentage`. */
function clientFor(salt: string, percentage: number, inside: boolean): string {
  for (let n = 0; n < 100_000; n++) {
    const id = `client-${n}`;
    if (rolloutBucket(salt, id) < percentage * 100 === inside) return id;
  }
  throw new Error('no client found');
}

describe('parseUpdateCheck', () => {
  it('parses the version, owner and options; an empty clientId means none', () => {
    const query = parseUpdateCheck({ currentVersion: '1.2.3-rc.1', productId: 'prod', clientId: '', includePrerelease: true });
    expect(query).toEqual({ current: parseVersion('1.2.3-rc.1', 'currentVersion'), owner: { extensionId: null, productId: 'prod' }, clientId: null, includePrerelease: true });
    expect(parseUpdateCheck({ currentVersion: '1.0.0', extensionId: 'e', clientId: 'c-1' })).toMatchObject({ clientId: 'c-1', includePrerelease: false });
    expect(parseUpdateCheck({ currentVersion: '1.0.0', extensionId: 'e', clientId: null, includePrerelease: null })).toMatchObject({ clientId: null, includePrerelease: false });
  });

  it('refuses an invalid version naming currentVersion, a missing owner, and a clientId over the limit', () => {
    expect(() => parseUpdateCheck({ currentVersion: 'v1.0.0', extensionId: 'e' })).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT', extensions: expect.objectContaining({ field: 'currentVersion' }) }));
    expect(() => parseUpdateCheck({ currentVersion: '1.0.0' })).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT' }));
    expect(parseUpdateCheck({ currentVersion: '1.0.0', extensionId: 'e', clientId: 'x'.repeat(CLIENT_ID_MAX_LENGTH) }).clientId).toHaveLength(CLIENT_ID_MAX_LENGTH);
    expect(() => parseUpdateCheck({ currentVersion: '1.0.0', extensionId: 'e', clientId: 'x'.repeat(CLIENT_ID_MAX_LENGTH + 1) })).toThrow(
      expect.objectContaining({ code: 'BAD_USER_INPUT', message: 'clientId must be text of at most 200 characters (a stable id of the installation)', extensions: expect.objectContaining({ field: 'clientId' }) }),
    );
    expect(() => parseUpdateCheck({ currentVersion: '1.0.0', extensionId: 'e', clientId: 42 as never })).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT' }));
  });
});

describe('the offer', () => {
  it('is the highest live version above the current one, with the package it names', () => {
    const v2 = release('2.0.0');
    const s = state([release('1.1.0'), v2, release('1.5.0')]);
    expect(check(s, '1.0.0')).toEqual({
      fromVersion: '1.0.0',
      toVersion: '2.0.0',
      packageId: v2.packageId,
      packageUrl: v2.packageUrl,
      packageSize: v2.packageSize,
      checksum: v2.checksum,
      isDelta: false,
      deltaFromVersion: null,
      deltaFormat: null,
      targetChecksum: null,
      isRollback: false,
      mandatory: false,
      releaseNotes: 'notes of 2.0.0',
      distributionId: v2.distributionId,
    });
  });

  it('is null when nothing is above the current version (equal is not above)', () => {
    const s = state([release('1.0.0'), release('0.9.0')]);
    expect(check(s, '1.0.0')).toBeNull();
    expect(check(s, '2.0.0')).toBeNull();
    expect(check(state([]), '1.0.0')).toBeNull();
  });

  it('skips deprecated targets and offers the next one down', () => {
    const s = state([release('2.0.0', { toDeprecated: true }), release('1.5.0')]);
    expect(check(s, '1.0.0')?.toVersion).toBe('1.5.0');
  });

  it('offers prereleases only with includePrerelease', () => {
    const s = state([release('2.0.0-rc.1'), release('1.5.0')]);
    expect(check(s, '1.0.0')?.toVersion).toBe('1.5.0');
    expect(check(s, '1.0.0', { includePrerelease: true })?.toVersion).toBe('2.0.0-rc.1');
  });

  it('prefers a delta on its base version and never offers it elsewhere', () => {
    const d = delta('2.0.0', '1.0.0');
    const s = state([release('2.0.0'), d]);
    expect(check(s, '1.0.0')).toMatchObject({ toVersion: '2.0.0', packageId: d.packageId, isDelta: true, deltaFromVersion: '1.0.0', deltaFormat: 'bsdiff', targetChecksum: 't'.repeat(64) });
    expect(check(s, '1.1.0')).toMatchObject({ toVersion: '2.0.0', isDelta: false });
    // Same precedence as the base (build metadata ignored) still applies.
    expect(check(s, '1.0.0+build.7')).toMatchObject({ isDelta: true, fromVersion: '1.0.0+build.7' });
    expect(check(state([delta('2.0.0', '1.0.0')]), '1.2.0')).toBeNull();
  });
});

describe('deltas riding on the full package\'s distribution', () => {
  /** A full release of `toVersion` carrying deltas (not distributed themselves) from `bases`. */
  function fullWithDeltas(toVersion: string, bases: string[], overrides: Partial<LiveRelease> = {}): LiveRelease {
    const full = release(toVersion, overrides);
    const deltas = new Map<string, LiveRelease>();
    for (const base of bases) {
      const parsed = parseVersion(base);
      deltas.set(parsed.sortKey, { ...full, deltas: null, packageId: `delta-${base}-${toVersion}`, packageUrl: `https://cdn.test/${base}-${toVersion}.dfd`, packageSize: 77, checksum: 'd'.repeat(64), isDelta: true, baseSortKey: parsed.sortKey, deltaFromVersion: base, deltaFormat: 'dfd1-zip', targetChecksum: full.checksum });
    }
    return { ...full, deltas };
  }

  it('offers a client on a base the delta, under the full package\'s distribution; other versions get the full package', () => {
    const full = fullWithDeltas('2.0.0', ['1.0.0', '1.5.0']);
    const s = state([full]);
    expect(check(s, '1.0.0')).toEqual({
      fromVersion: '1.0.0',
      toVersion: '2.0.0',
      packageId: 'delta-1.0.0-2.0.0',
      packageUrl: 'https://cdn.test/1.0.0-2.0.0.dfd',
      packageSize: 77,
      checksum: 'd'.repeat(64),
      isDelta: true,
      deltaFromVersion: '1.0.0',
      deltaFormat: 'dfd1-zip',
      targetChecksum: full.checksum,
      isRollback: false,
      mandatory: false,
      releaseNotes: 'notes of 2.0.0',
      distributionId: full.distributionId,
    });
    expect(check(s, '1.5.0')).toMatchObject({ packageId: 'delta-1.5.0-2.0.0', distributionId: full.distributionId });
    expect(check(s, '1.2.0')).toMatchObject({ packageId: full.packageId, isDelta: false, deltaFromVersion: null });
  });

  it('follows the full package\'s rollout and mandatory flag', () => {
    const full = fullWithDeltas('2.0.0', ['1.0.0'], { percentage: 40, mandatory: true });
    const s = state([full]);
    expect(check(s, '1.0.0', { clientId: clientFor(full.salt, 40, true) })).toMatchObject({ packageId: 'delta-1.0.0-2.0.0', mandatory: true });
    expect(check(s, '1.0.0', { clientId: clientFor(full.salt, 40, false) })).toBeNull();
    expect(check(s, '1.0.0')).toBeNull();
  });

  it('is not offered when a higher release is the offer, and a delta distributed on its own still comes first', () => {
    const s = state([fullWithDeltas('2.0.0', ['1.0.0']), release('3.0.0')]);
    expect(check(s, '1.0.0')).toMatchObject({ toVersion: '3.0.0', isDelta: false });
    const own = delta('2.0.0', '1.0.0');
    expect(check(state([fullWithDeltas('2.0.0', ['1.0.0']), own]), '1.0.0')).toMatchObject({ packageId: own.packageId });
  });
});

describe('gradual eligibility', () => {
  it('offers a partial rollout only to clients whose bucket is below the percentage, and nothing without a clientId', () => {
    const gradual = release('2.0.0', { percentage: 25 });
    const s = state([gradual, release('1.5.0')]);
    const inside = clientFor(gradual.salt, 25, true);
    const outside = clientFor(gradual.salt, 25, false);
    expect(check(s, '1.0.0', { clientId: inside })?.toVersion).toBe('2.0.0');
    expect(check(s, '1.0.0', { clientId: outside })?.toVersion).toBe('1.5.0');
    expect(check(s, '1.0.0')?.toVersion).toBe('1.5.0');
  });

  it('offers even a 99.99 % rollout only to checks that send a clientId', () => {
    const almostAll = release('2.0.0', { percentage: 99.99 });
    expect(check(state([almostAll]), '1.0.0')).toBeNull();
    expect(check(state([almostAll]), '1.0.0', { clientId: clientFor(almostAll.salt, 99.99, true) })?.toVersion).toBe('2.0.0');
  });

  it('offers a 100 % release to a check without a clientId, and a 0 % one to no one', () => {
    expect(check(state([release('2.0.0', { percentage: 100 })]), '1.0.0')?.toVersion).toBe('2.0.0');
    const none = release('2.0.0', { percentage: 0 });
    expect(check(state([none]), '1.0.0', { clientId: clientFor(none.salt, 50, true) })).toBeNull();
  });
});

describe('mandatory', () => {
  it('is set when a live forward mandatory release lies in (current, offer]', () => {
    expect(check(state([release('2.0.0'), release('1.5.0', { mandatory: true })]), '1.0.0')).toMatchObject({ toVersion: '2.0.0', mandatory: true });
    expect(check(state([release('2.0.0', { mandatory: true })]), '1.0.0')).toMatchObject({ toVersion: '2.0.0', mandatory: true });
  });

  it('is not set by a mandatory release at or below the current version, above the offer, or by a rollback', () => {
    expect(check(state([release('2.0.0'), release('1.0.0', { mandatory: true })]), '1.0.0')?.mandatory).toBe(false);
    expect(check(state([release('2.0.0'), release('0.5.0', { mandatory: true })]), '1.0.0')?.mandatory).toBe(false);
    // Above the offer: a prerelease this client is not offered.
    expect(check(state([release('3.0.0-rc.1', { mandatory: true }), release('2.0.0')]), '1.0.0')).toMatchObject({ toVersion: '2.0.0', mandatory: false });
    expect(check(state([release('2.0.0'), release('1.5.0', { mandatory: true, isRollback: true })]), '1.0.0')?.mandatory).toBe(false);
  });
});

describe('rollback offers', () => {
  it('offers a client on a withdrawn version the rollback target below it, flagged isRollback', () => {
    const back = release('1.0.0', { isRollback: true, mandatory: true });
    const s = state([back, release('0.9.0', { isRollback: true })], ['2.0.0']);
    expect(check(s, '2.0.0')).toMatchObject({ toVersion: '1.0.0', packageId: back.packageId, isRollback: true, mandatory: true });
  });

  it('offers nothing backwards to a client whose version is not withdrawn, or when the only release is not a rollback', () => {
    expect(check(state([release('1.0.0', { isRollback: true })]), '2.0.0')).toBeNull();
    expect(check(state([release('1.0.0')], ['2.0.0']), '2.0.0')).toBeNull();
  });

  it('prefers a forward offer over a rollback', () => {
    const s = state([release('3.0.0'), release('1.0.0', { isRollback: true })], ['2.0.0']);
    expect(check(s, '2.0.0')).toMatchObject({ toVersion: '3.0.0', isRollback: false });
  });

  it('skips rollback targets that are deprecated, prereleases (without includePrerelease), not eligible, or deltas from another base', () => {
    const gradual = release('0.8.0', { isRollback: true, percentage: 10 });
    const outside = clientFor(gradual.salt, 10, false);
    const s = state(
      [
        release('1.5.0', { isRollback: true, toDeprecated: true }),
        release('1.4.0-rc.1', { isRollback: true }),
        delta('1.3.0', '1.9.0', { isRollback: true }),
        gradual,
        release('0.5.0', { isRollback: true }),
      ],
      ['2.0.0'],
    );
    expect(check(s, '2.0.0', { clientId: outside })).toMatchObject({ toVersion: '0.5.0', isRollback: true });
    expect(check(s, '2.0.0', { clientId: outside, includePrerelease: true })).toMatchObject({ toVersion: '1.4.0-rc.1', isRollback: true });
    expect(check(s, '2.0.0', { clientId: clientFor(gradual.salt, 10, true) })?.toVersion).toBe('0.8.0');
  });

  it('applies a rollback delta only on its base', () => {
    const d = delta('1.0.0', '2.0.0', { isRollback: true });
    expect(check(state([d], ['2.0.0']), '2.0.0')).toMatchObject({ isDelta: true, isRollback: true, packageId: d.packageId });
    expect(check(state([d], ['2.1.0']), '2.1.0')).toBeNull();
  });

  it('never offers a rollback target at or above the current version', () => {
    expect(check(state([release('2.0.0', { isRollback: true })], ['2.0.0']), '2.0.0')).toBeNull();
  });

  it('reports the choice through chooseRelease', () => {
    const back = release('1.0.0', { isRollback: true });
    const s = state([back], ['2.0.0']);
    expect(chooseRelease(s, parseUpdateCheck({ currentVersion: '2.0.0', extensionId: 'e' }))).toEqual({ release: back, mandatory: false, rollback: true });
  });
});

describe('memoised answers', () => {
  it('keeps every answer of a state, not only the last one', () => {
    const s = state([release('2.0.0'), release('3.0.0-rc.1')]);
    const stable = check(s, '1.0.0');
    const prerelease = check(s, '1.0.0', { includePrerelease: true });
    expect(prerelease?.toVersion).toBe('3.0.0-rc.1');
    expect(check(s, '1.0.0')).toBe(stable);
    expect(check(s, '1.0.0', { includePrerelease: true })).toBe(prerelease);
  });

  it('bounds the memo of a state at 20,000 answers', () => {
    const s = state([release('2.0.0')]);
    for (let n = 0; n <= 20_000; n++) check(s, `1.0.${n}`);
    expect(s.memo.size).toBeGreaterThan(0);
    expect(s.memo.size).toBeLessThanOrEqual(20_000);
  });

  it('parses a version text once: repeated checks share the parsed version', () => {
    const first = parseUpdateCheck({ currentVersion: '4.5.6-memo.1', extensionId: 'e' }).current;
    expect(parseUpdateCheck({ currentVersion: '4.5.6-memo.1', productId: 'p' }).current).toBe(first);
  });

  it('gives clients with the same answer the same object, and different ones for a different fromVersion', () => {
    const s = state([release('2.0.0')]);
    const first = check(s, '1.0.0', { clientId: 'a' });
    expect(check(s, '1.0.0', { clientId: 'b' })).toBe(first);
    expect(check(s, '1.0.0+b')).not.toBe(first);
    expect(check(s, '1.0.0+b')?.fromVersion).toBe('1.0.0+b');
  });
});
