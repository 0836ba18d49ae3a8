import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  ChangelogDocument,
  CompareVersionsDocument,
  CreateVersionDocument,
  DeprecateVersionDocument,
  LatestVersionDocument,
  VersionByIdDocument,
  VersionPublishedDocument,
  VersionsDocument,
} from '../generated/graphql.js';
import { subscribe, type HttpClient } from '../helpers/client.js';
import { ADMIN_ID, startTestServer, uniqueId, type TestServer } from '../helpers/server.js';

let server: TestServer;
let admin: HttpClient;
let user: HttpClient;

beforeAll(async () => {
  server = await startTestServer();
  admin = await server.client('admin');
  user = await server.client('user');
});
afterAll(() => server?.close());

async function publish(extensionId: string, ...versions: string[]) {
  const created = [];
  for (const version of versions) {
    created.push((await admin.data(CreateVersionDocument, { input: { version, extensionId } })).createVersion);
  }
  return created;
}

describe('createVersion', () => {
  it('stores the parsed parts, changelog, notes, metadata and the releasing admin', async () => {
    const extensionId = uniqueId();
    const { createVersion } = await admin.data(CreateVersionDocument, {
      input: {
        version: '2.1.0-beta.3+build.77',
        extensionId,
        changelog: [
          { type: 'ADDED', description: 'Inline diff view', scope: 'editor' },
          { type: 'REMOVED', description: 'Legacy sync API', breaking: true },
        ],
        releaseNotes: 'Beta with inline diffs',
        metadata: { channel: 'beta', size: 3 },
      },
    });
    expect(createVersion).toMatchObject({
      version: '2.1.0-beta.3+build.77',
      major: 2,
      minor: 1,
      patch: 0,
      prerelease: 'beta.3',
      build: 'build.77',
      extensionId,
      productId: null,
      isStable: false,
      isDeprecated: false,
      releaseNotes: 'Beta with inline diffs',
      releasedBy: ADMIN_ID,
      metadata: { channel: 'beta', size: 3 },
      changelog: [
        { type: 'ADDED', description: 'Inline diff view', scope: 'editor', breaking: false },
        { type: 'REMOVED', description: 'Legacy sync API', scope: null, breaking: true },
      ],
    });
    expect(new Date(createVersion.releasedAt).getTime()).toBeGreaterThan(Date.now() - 60_000);
    const { version } = await user.data(VersionByIdDocument, { id: createVersion.id });
    expect(version?.version).toBe('2.1.0-beta.3+build.77');
  });

  it.each(['1.2', 'v1.2.3', '01.2.3', '1.2.3-', '1.2.3-01', ' 1.2.3', '1.2.3.4', ''])('rejects %j as BAD_USER_INPUT and stores nothing', async (bad) => {
    const extensionId = uniqueId();
    const response = await admin.request(CreateVersionDocument, { input: { version: bad, extensionId } });
    expect(response.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(response.errors?.[0]?.message).toMatch(/SemVer/);
    const { versions } = await user.data(VersionsDocument, { extensionId, includePrerelease: true });
    expect(versions.totalCount).toBe(0);
  });

  it('answers CONFLICT for the same version twice for one owner, but allows it for another owner', async () => {
    const extensionId = uniqueId();
    await publish(extensionId, '1.0.0');
    const response = await admin.request(CreateVersionDocument, { input: { version: '1.0.0', extensionId } });
    expect(response.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(response.errors?.[0]?.message).toContain('1.0.0 already exists');
    await publish(uniqueId(), '1.0.0');
  });

  it('needs an owner', async () => {
    expect(await admin.errorCode(CreateVersionDocument, { input: { version: '1.0.0' } })).toBe('BAD_USER_INPUT');
  });
});

describe('ordering by SemVer precedence', () => {
  it('lists versions highest first, with prerelease identifiers compared numerically and releases above their prereleases', async () => {
    const extensionId = uniqueId();
    const shuffled = ['1.0.0-alpha.9', '1.10.0', '1.0.0', '1.0.0-alpha.10', '1.9.0', '1.0.0-rc.1', '1.0.0-alpha', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11'];
    await publish(extensionId, ...shuffled);
    const { versions } = await user.data(VersionsDocument, { extensionId, includePrerelease: true });
    expect(versions.nodes.map((v) => v.version)).toEqual([
      '1.10.0',
      '1.9.0',
      '1.0.0',
      '1.0.0-rc.1',
      '1.0.0-beta.11',
      '1.0.0-beta.2',
      '1.0.0-beta',
      '1.0.0-alpha.beta',
      '1.0.0-alpha.10',
      '1.0.0-alpha.9',
      '1.0.0-alpha',
    ]);
    const stable = await user.data(VersionsDocument, { extensionId });
    expect(stable.versions.nodes.map((v) => v.version)).toEqual(['1.10.0', '1.9.0', '1.0.0']);
  });

  it('latestVersion picks the highest precedence, skips deprecated, and includes prereleases only when asked', async () => {
    const extensionId = uniqueId();
    const [, , v110] = await publish(extensionId, '1.9.0', '1.10.0-rc.1', '1.10.0', '2.0.0-alpha.10', '2.0.0-alpha.9');
    expect((await user.data(LatestVersionDocument, { extensionId })).latestVersion?.version).toBe('1.10.0');
    expect((await user.data(LatestVersionDocument, { extensionId, includePrerelease: true })).latestVersion?.version).toBe('2.0.0-alpha.10');
    await admin.data(DeprecateVersionDocument, { id: v110!.id, reason: 'crashes on start' });
    expect((await user.data(LatestVersionDocument, { extensionId })).latestVersion?.version).toBe('1.9.0');
    expect((await user.data(LatestVersionDocument, { extensionId: uniqueId() })).latestVersion).toBeNull();
  });

  it('pages through versions with cursors without gaps or repeats', async () => {
    const extensionId = uniqueId();
    const all = Array.from({ length: 7 }, (_, i) => `1.${i}.0`);
    await publish(extensionId, ...all);
    const seen: string[] = [];
    let after: string | null | undefined;
    for (;;) {
      const { versions } = await user.data(VersionsDocument, { extensionId, first: 3, after });
      expect(versions.totalCount).toBe(7);
      seen.push(...versions.nodes.map((v) => v.version));
      if (!versions.pageInfo.hasNextPage) break;
      after = versions.pageInfo.endCursor;
    }
    expect(seen).toEqual([...all].reverse());
    expect(await user.errorCode(VersionsDocument, { extensionId, after: 'not-a-cursor' })).toBe('BAD_USER_INPUT');
    expect(await user.errorCode(VersionsDocument, { extensionId, first: 0 })).toBe('BAD_USER_INPUT');
  });
});

describe('compareVersions', () => {
  it.each([
    ['1.0.0', '2.0.0', -1, '2.0.0', 'MAJOR'],
    ['1.2.0', '1.1.9', 1, '1.2.0', 'MINOR'],
    ['1.0.1', '1.0.0', 1, '1.0.1', 'PATCH'],
    ['1.0.0-alpha.10', '1.0.0-alpha.9', 1, '1.0.0-alpha.10', 'PRERELEASE'],
    ['1.0.0+a', '1.0.0+b', 0, null, null],
  ])('%s vs %s', async (version1, version2, result, newer, difference) => {
    const { compareVersions } = await user.data(CompareVersionsDocument, { version1, version2 });
    expect(compareVersions).toEqual({ version1, version2, result, newer, difference });
  });

  it('rejects a version that is not SemVer', async () => {
    expect(await user.errorCode(CompareVersionsDocument, { version1: '1.0', version2: '1.0.0' })).toBe('BAD_USER_INPUT');
  });
});

describe('deprecateVersion', () => {
  it('marks the version with its reason; again is CONFLICT; unknown id is NOT_FOUND', async () => {
    const [v] = await publish(uniqueId(), '3.0.0');
    const { deprecateVersion } = await admin.data(DeprecateVersionDocument, { id: v!.id, reason: 'data loss on save' });
    expect(deprecateVersion).toMatchObject({ isDeprecated: true, deprecationReason: 'data loss on save' });
    expect(await admin.errorCode(DeprecateVersionDocument, { id: v!.id, reason: 'again' })).toBe('CONFLICT');
    expect(await admin.errorCode(DeprecateVersionDocument, { id: '5b1c3e0e-0000-4000-8000-000000000000', reason: 'x' })).toBe('NOT_FOUND');
    expect(await admin.errorCode(DeprecateVersionDocument, { id: v!.id, reason: '  ' })).toBe('BAD_USER_INPUT');
  });
});

describe('changelog', () => {
  it('renders Keep-a-Changelog markdown for (from, to], highest first, calling out breaking changes', async () => {
    const extensionId = uniqueId();
    for (const [version, changelog] of [
      ['1.0.0', [{ type: 'ADDED' as const, description: 'First release' }]],
      ['1.1.0', [{ type: 'FIXED' as const, description: 'Crash on empty file', scope: 'parser' }]],
      ['2.0.0', [
        { type: 'REMOVED' as const, description: 'Node 16 support', breaking: true },
        { type: 'SECURITY' as const, description: 'Escape paths' },
      ]],
      ['2.1.0', [{ type: 'ADDED' as const, description: 'Not in range' }]],
    ] as const) {
      await admin.data(CreateVersionDocument, { input: { version, extensionId, changelog: [...changelog] } });
    }
    const { changelog } = await user.data(ChangelogDocument, { extensionId, fromVersion: '1.0.0', toVersion: '2.0.0' });
    expect(changelog).toMatch(/^# Changelog\n/);
    expect(changelog).toContain('[Keep a Changelog]');
    expect(changelog).not.toContain('[1.0.0]');
    expect(changelog).not.toContain('[2.1.0]');
    expect(changelog.indexOf('## [2.0.0]')).toBeLessThan(changelog.indexOf('## [1.1.0]'));
    expect(changelog).toContain('### ⚠ BREAKING CHANGES\n\n- **BREAKING:** Node 16 support');
    expect(changelog).toContain('### Fixed\n\n- **parser:** Crash on empty file');
    expect(changelog).toContain('### Security\n\n- Escape paths');
    expect(await user.errorCode(ChangelogDocument, { extensionId, fromVersion: '2.0.0', toVersion: '1.0.0' })).toBe('BAD_USER_INPUT');
  });
});

describe('versionPublished subscription', () => {
  it('pushes versions created and deprecated for the subscribed owner only', async () => {
    const extensionId = uniqueId();
    const ws = await server.ws('user');
    const subscription = await subscribe(ws, VersionPublishedDocument, { extensionId });
    await publish(uniqueId(), '1.0.0'); // another owner: not pushed
    const [created] = await publish(extensionId, '1.2.3');
    const first = await subscription.next();
    expect(first.data?.versionPublished).toMatchObject({ id: created!.id, version: '1.2.3', isDeprecated: false });
    await admin.data(DeprecateVersionDocument, { id: created!.id, reason: 'broken' });
    const second = await subscription.next();
    expect(second.data?.versionPublished).toMatchObject({ id: created!.id, isDeprecated: true, deprecationReason: 'broken' });
    expect(await subscription.quietFor(300)).toBe(true);
    subscription.close();
  });
});
