import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  type ChangeType,
  ChangelogDocument,
  CreateVersionDocument,
  DeprecateVersionDocument,
  LatestVersionDocument,
  VersionPublishedDocument,
  VersionsDocument,
  type CreateVersionInput,
} from '../generated/graphql.js';
import { subscribe, type HttpClient } from '../helpers/client.js';
import { ADMIN_ID, startTestServer, uniqueId, type TestServer } from '../helpers/server.js';

/**
 * Issue 11.3: version behaviour users rely on that no other test touched — the versionEvents
 * payload, owners given by productId alone, versions without deprecated ones, how the changelog
 * renders deprecated versions, empty ranges and release notes, and the input limits.
 */

let server: TestServer;
let admin: HttpClient;
let user: HttpClient;

beforeAll(async () => {
  server = await startTestServer();
  admin = await server.client('admin');
  user = await server.client('user');
});
afterAll(() => server?.close());

const create = async (input: CreateVersionInput) => (await admin.data(CreateVersionDocument, { input })).createVersion;
const today = () => new Date().toISOString().slice(0, 10);

type VersionEventsResult = {
  versionEvents: {
    action: string;
    version: { id: string; version: string; extensionId: string | null; productId: string | null; isDeprecated: boolean; deprecationReason: string | null; releaseNotes: string | null; releasedBy: string | null };
  };
};
const VersionEvents = `subscription VersionEvents($extensionId: ID, $productId: ID) {
  versionEvents(extensionId: $extensionId, productId: $productId) {
    action
    version { id version extensionId productId isDeprecated deprecationReason releaseNotes releasedBy }
  }
}`;

describe('versionEvents', () => {
  it('delivers CREATED, then DEPRECATED with the reason, for the owner subscribed to only', async () => {
    const productId = uniqueId('product');
    const events = await subscribe<VersionEventsResult>(await server.ws('user'), VersionEvents, { productId });
    await create({ version: '1.0.0', productId: uniqueId('product') }); // another owner: not delivered
    const created = await create({ version: '1.0.0', productId, extensionId: 'ext.in-product', releaseNotes: 'First.' });

    expect((await events.next()).data?.versionEvents).toEqual({
      action: 'CREATED',
      version: { id: created.id, version: '1.0.0', extensionId: 'ext.in-product', productId, isDeprecated: false, deprecationReason: null, releaseNotes: 'First.', releasedBy: ADMIN_ID },
    });
    await admin.data(DeprecateVersionDocument, { id: created.id, reason: 'crashes on start' });
    expect((await events.next()).data?.versionEvents).toEqual({
      action: 'DEPRECATED',
      version: { id: created.id, version: '1.0.0', extensionId: 'ext.in-product', productId, isDeprecated: true, deprecationReason: 'crashes on start', releaseNotes: 'First.', releasedBy: ADMIN_ID },
    });
    expect(await events.quietFor(300)).toBe(true);
  });
});

describe('an owner given by productId alone', () => {
  it('creates, filters, answers latestVersion and reaches versionPublished subscribers by productId', async () => {
    const productId = uniqueId('product');
    const published = await subscribe<{ versionPublished: { id: string; productId: string | null; extensionId: string | null } }>(
      await server.ws('user'),
      VersionPublishedDocument,
      { productId },
    );
    const first = await create({ version: '1.0.0', productId });
    expect(first).toMatchObject({ productId, extensionId: null, version: '1.0.0' });
    const second = await create({ version: '1.1.0', productId });
    await create({ version: '9.0.0', productId: uniqueId('product') });
    await create({ version: '9.0.0', extensionId: productId }); // the same text as an extensionId is another owner

    expect((await published.next()).data?.versionPublished).toMatchObject({ id: first.id, productId, extensionId: null });
    expect((await published.next()).data?.versionPublished).toMatchObject({ id: second.id, productId, extensionId: null });
    expect(await published.quietFor(300)).toBe(true);

    const listed = (await user.data(VersionsDocument, { productId })).versions;
    expect(listed.totalCount).toBe(2);
    expect(listed.nodes.map((v) => v.version)).toEqual(['1.1.0', '1.0.0']);
    expect((await user.data(LatestVersionDocument, { productId })).latestVersion?.id).toBe(second.id);

    // The same version for the same product is a conflict; for the product within an extension it is another owner.
    expect(await admin.errorCode(CreateVersionDocument, { input: { version: '1.1.0', productId } })).toBe('CONFLICT');
    expect((await create({ version: '1.1.0', productId, extensionId: 'ext.a' })).productId).toBe(productId);
  });
});

describe('versions(includeDeprecated)', () => {
  it('lists deprecated versions marked by default, and leaves them out with includeDeprecated: false', async () => {
    const extensionId = uniqueId();
    for (const version of ['1.0.0', '1.1.0', '1.2.0']) await create({ version, extensionId });
    const middle = (await user.data(VersionsDocument, { extensionId })).versions.nodes.find((v) => v.version === '1.1.0')!;
    await admin.data(DeprecateVersionDocument, { id: middle.id, reason: 'bad build' });

    const all = (await user.data(VersionsDocument, { extensionId })).versions;
    expect(all.totalCount).toBe(3);
    expect(all.nodes.map((v) => [v.version, v.isDeprecated])).toEqual([['1.2.0', false], ['1.1.0', true], ['1.0.0', false]]);

    const live = (await user.data(VersionsDocument, { extensionId, includeDeprecated: false })).versions;
    expect(live.totalCount).toBe(2);
    expect(live.nodes.map((v) => v.version)).toEqual(['1.2.0', '1.0.0']);
    const firstPage = (await user.data(VersionsDocument, { extensionId, includeDeprecated: false, first: 1 })).versions;
    const secondPage = (await user.data(VersionsDocument, { extensionId, includeDeprecated: false, first: 1, after: firstPage.pageInfo.endCursor })).versions;
    expect([...firstPage.nodes, ...secondPage.nodes].map((v) => v.version)).toEqual(['1.2.0', '1.0.0']);
    expect(secondPage.pageInfo.hasNextPage).toBe(false);
  });
});

describe('changelog rendering', () => {
  const header = (owner: string) => [
    '# Changelog',
    '',
    `All notable changes to ${owner} are documented in this file.`,
    '',
    'The format is based on [Keep a Changelog](https://keepachangelog.com/en/1.1.0/),',
    'and this project adheres to [Semantic Versioning](https://semver.org/spec/v2.0.0.html).',
  ];

  it('marks a deprecated version and quotes its reason; uses the release notes of a version without entries', async () => {
    const extensionId = uniqueId();
    await create({ version: '1.0.0', extensionId, releaseNotes: 'ignored: entries win', changelog: [{ type: 'ADDED', description: 'First release' }] });
    const bad = await create({ version: '1.1.0', extensionId, changelog: [{ type: 'FIXED', description: 'Crash on start', scope: 'core' }] });
    await create({ version: '1.2.0', extensionId, releaseNotes: '  Performance work only.\n' });
    await admin.data(DeprecateVersionDocument, { id: bad.id, reason: 'corrupts settings' });

    const { changelog } = await user.data(ChangelogDocument, { extensionId });
    const d = today();
    expect(changelog).toBe(
      [
        ...header(`extension ${extensionId}`),
        '',
        `## [1.2.0] - ${d}`,
        '',
        'Performance work only.',
        '',
        `## [1.1.0] - ${d} [DEPRECATED]`,
        '',
        '> Deprecated: corrupts settings',
        '',
        '### Fixed',
        '',
        '- **core:** Crash on start',
        '',
        `## [1.0.0] - ${d}`,
        '',
        '### Added',
        '',
        '- First release',
        '',
      ].join('\n'),
    );
  });

  it('says so when the range holds no release (and for an owner without versions)', async () => {
    const extensionId = uniqueId();
    await create({ version: '1.0.0', extensionId });
    await create({ version: '2.0.0', extensionId });
    const empty = [...header(`extension ${extensionId}`), '', '_No releases in this range._', ''].join('\n');
    expect((await user.data(ChangelogDocument, { extensionId, fromVersion: '1.0.0', toVersion: '1.5.0' })).changelog).toBe(empty);
    expect((await user.data(ChangelogDocument, { extensionId, fromVersion: '2.0.0' })).changelog).toBe(empty);
    const nobody = uniqueId('product');
    expect((await user.data(ChangelogDocument, { productId: nobody })).changelog).toBe(
      [...header(`product ${nobody}`), '', '_No releases in this range._', ''].join('\n'),
    );
  });
});

describe('input limits (refused as BAD_USER_INPUT naming the field, nothing created)', () => {
  async function expectRefused(input: CreateVersionInput, message: string, field: string) {
    const owner = (input.extensionId ?? input.productId) as string | null | undefined;
    const response = await admin.request(CreateVersionDocument, { input });
    expect(response.errors?.map((error) => [error.extensions?.code, error.message, error.extensions?.field])).toEqual([['BAD_USER_INPUT', message, field]]);
    expect(response.data ?? null).toBeNull();
    if (owner && /^[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,199}$/.test(owner)) {
      const filter = input.extensionId ? { extensionId: owner } : { productId: owner };
      expect((await user.data(VersionsDocument, filter)).versions.totalCount).toBe(0);
    }
  }

  it('version parts: 2^31 − 1 is stored, 2^31 is refused in major, minor and patch', async () => {
    const extensionId = uniqueId();
    const top = await create({ version: '2147483647.2147483647.2147483647', extensionId });
    expect([top.major, top.minor, top.patch]).toEqual([2147483647, 2147483647, 2147483647]);
    for (const version of ['2147483648.0.0', '0.2147483648.0', '0.0.2147483648', '9007199254740991.0.0']) {
      await expectRefused(
        { version, extensionId: uniqueId() },
        `version ${version} has a part above 2147483647; stored versions keep each part within a 32-bit integer`,
        'version',
      );
    }
  });

  it('changelog: 500 entries are stored, 501 refused', async () => {
    const entries = (n: number) => Array.from({ length: n }, (_, i) => ({ type: 'CHANGED' as ChangeType, description: `change ${i}` }));
    expect((await create({ version: '1.0.0', extensionId: uniqueId(), changelog: entries(500) })).changelog).toHaveLength(500);
    await expectRefused({ version: '1.0.0', extensionId: uniqueId(), changelog: entries(501) }, 'changelog has 501 entries; at most 500 are allowed', 'changelog');
  });

  it('releaseNotes: 100 000 characters are stored, one more refused', async () => {
    expect((await create({ version: '1.0.0', extensionId: uniqueId(), releaseNotes: 'n'.repeat(100_000) })).releaseNotes).toHaveLength(100_000);
    await expectRefused({ version: '1.0.0', extensionId: uniqueId(), releaseNotes: 'n'.repeat(100_001) }, 'releaseNotes must be text of at most 100000 characters', 'releaseNotes');
  });

  it('metadata: 64 KiB of JSON is stored, one byte more refused', async () => {
    const sized = (bytes: number) => ({ blob: 'm'.repeat(bytes - JSON.stringify({ blob: '' }).length) });
    expect(JSON.stringify(sized(65_536)).length).toBe(65_536);
    expect((await create({ version: '1.0.0', extensionId: uniqueId(), metadata: sized(65_536) })).metadata).toEqual(sized(65_536));
    await expectRefused({ version: '1.0.0', extensionId: uniqueId(), metadata: sized(65_537) }, 'metadata is larger than 64 KiB as JSON', 'metadata');
  });

  it('owner ids: 1–200 characters of letters, digits and . _ : @ / + -, starting with a letter or digit', async () => {
    const longest = `a${'b'.repeat(199)}`;
    expect((await create({ version: '1.0.0', extensionId: longest })).extensionId).toBe(longest);
    expect((await create({ version: '1.0.0', productId: 'Acme:Suite/2026+beta@eu_1.x-y' })).productId).toBe('Acme:Suite/2026+beta@eu_1.x-y');
    const rule = 'is not valid: use 1–200 characters of letters, digits and . _ : @ / + - starting with a letter or digit';
    const cases: [string, 'extensionId' | 'productId'][] = [
      [`${longest}c`, 'extensionId'],
      ['has space', 'extensionId'],
      ['-leading-dash', 'productId'],
      ['.hidden', 'productId'],
      ['emoji-😀', 'extensionId'],
      ['semi;colon', 'productId'],
    ];
    for (const [id, field] of cases) {
      await expectRefused({ version: '1.0.0', [field]: id }, `${field} ${JSON.stringify(id.slice(0, 60))} ${rule}`, field);
    }
    const listed = await user.request(VersionsDocument, { extensionId: 'has space' });
    expect(listed.errors?.map((error) => [error.extensions?.code, error.extensions?.field])).toEqual([['BAD_USER_INPUT', 'extensionId']]);
  });
});
