import semver from 'semver';

import { BadInputError } from '../errors.js';

/**
 * SemVer 2.0.0 parsing and a precedence key that sorts correctly as bytes (`COLLATE "C"`),
 * so PostgreSQL can `ORDER BY sort_key DESC LIMIT 1` and compare `sort_key > $current`
 * with an index instead of loading every version into the application.
 */

export interface ParsedVersion {
  version: string;
  major: number;
  minor: number;
  patch: number;
  prerelease: string | null;
  build: string | null;
  sortKey: string;
}

// The SemVer 2.0.0 grammar (semver.org's recommended regular expression). `semver.parse`
// alone is not strict enough: it accepts a leading "v" and surrounding whitespace.
const STRICT_SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

const MAX_VERSION_LENGTH = 256;
const NUMBER_WIDTH = 16; // Number.MAX_SAFE_INTEGER has 16 digits.

function pad(n: number): string {
  return String(n).padStart(NUMBER_WIDTH, '0');
}

/**
 * One prerelease identifier as a byte-sortable string: numeric identifiers sort below
 * alphanumeric ones ('0' < '1') and among themselves by length then digits (numeric order);
 * alphanumeric ones compare as ASCII, as SemVer requires.
 */
function identifierKey(identifier: string): string {
  if (/^\d+$/.test(identifier)) return `0${String(identifier.length).padStart(2, '0')}${identifier}`;
  return `1${identifier}`;
}

/**
 * The precedence key. Releases end in '~' and prereleases in '-…' ('-' < '~'), so `1.0.0`
 * sorts above `1.0.0-rc.1`; identifiers are joined by \x01, lower than any identifier byte,
 * so a shorter identifier list sorts first when it is a prefix of a longer one.
 */
export function precedenceKey(v: Pick<ParsedVersion, 'major' | 'minor' | 'patch' | 'prerelease'>): string {
  const core = `${pad(v.major)}.${pad(v.minor)}.${pad(v.patch)}`;
  if (!v.prerelease) return `${core}~`;
  return `${core}-${v.prerelease.split('.').map(identifierKey).join('\x01')}`;
}

// What precedenceKey produces: three 16-digit parts, then '~' or '-' and identifier keys of
// SemVer identifier characters joined by \x01.
const SORT_KEY = /^\d{16}\.\d{16}\.\d{16}(?:~|-[0-9A-Za-z-\x01]{1,600})$/;

/** Is this a key precedenceKey could have produced? (Cursors carry one; a forged one must not reach SQL.) */
export function isSortKey(value: unknown): value is string {
  return typeof value === 'string' && SORT_KEY.test(value);
}

/** Parses a strict SemVer 2.0.0 string; throws BAD_USER_INPUT naming the field otherwise. */
export function parseVersion(input: string, field = 'version'): ParsedVersion {
  const text = typeof input === 'string' ? input : '';
  const match = text.length <= MAX_VERSION_LENGTH ? STRICT_SEMVER.exec(text) : null;
  if (!match) {
    throw new BadInputError(
      `${field} ${JSON.stringify(String(input).slice(0, 80))} is not a valid SemVer 2.0.0 version: ` +
        'use MAJOR.MINOR.PATCH with optional -prerelease and +build, e.g. 1.4.0 or 2.0.0-rc.1 (no "v" prefix, no leading zeros)',
      { field },
    );
  }
  const [major, minor, patch] = [match[1], match[2], match[3]].map(Number) as [number, number, number];
  if (![major, minor, patch].every(Number.isSafeInteger)) {
    throw new BadInputError(`${field} ${JSON.stringify(text)} has a number part too large (max ${Number.MAX_SAFE_INTEGER})`, { field });
  }
  const prerelease = match[4] ?? null;
  // semver (and every JavaScript client) compares numeric identifiers as numbers: beyond 2^53
  // they round, and two different versions would compare equal. Refuse them instead.
  if (prerelease?.split('.').some((id) => /^\d+$/.test(id) && !Number.isSafeInteger(Number(id)))) {
    throw new BadInputError(`${field} ${JSON.stringify(text)} has a numeric prerelease identifier above ${Number.MAX_SAFE_INTEGER}`, { field });
  }
  const parsed = { version: text, major, minor, patch, prerelease, build: match[5] ?? null };
  return { ...parsed, sortKey: precedenceKey(parsed) };
}

export type VersionDifference = 'MAJOR' | 'PREMAJOR' | 'MINOR' | 'PREMINOR' | 'PATCH' | 'PREPATCH' | 'PRERELEASE';

export interface VersionComparisonResult {
  version1: string;
  version2: string;
  /** -1, 0 or 1, as `semver.compare(version1, version2)`. */
  result: -1 | 0 | 1;
  /** The newer of the two, null when they have equal precedence. */
  newer: string | null;
  difference: VersionDifference | null;
}

export function compareVersions(version1: string, version2: string): VersionComparisonResult {
  parseVersion(version1, 'version1');
  parseVersion(version2, 'version2');
  const result = semver.compare(version1, version2);
  const diff = result === 0 ? null : semver.diff(version1, version2);
  return {
    version1,
    version2,
    result,
    newer: result === 0 ? null : result > 0 ? version1 : version2,
    difference: diff ? (diff.toUpperCase() as VersionDifference) : null,
  };
}
