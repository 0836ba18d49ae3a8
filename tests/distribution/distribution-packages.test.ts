import crypto from 'node:crypto';

import { count } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cdnFiles, updatePackages } from '../../src/db/schema.js';
import {
  CreateUpdatePackageDocument,
  DeleteCdnFileDocument,
  UpdatePackageDocument,
  UpdatePackagesDocument,
  UploadCdnFileDocument,
  VersionWithPackagesDocument,
  VersionsWithPackagesDocument,
} from '../generated/graphql.js';
import { putInUploads, randomBytes, sha256 } from '../helpers/cdnFiles.js';
import type { HttpClient } from '../helpers/client.js';
import { createPackage, createVersions, recordStatements } from '../helpers/distribution.js';
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

async function rowCounts() {
  const db = server.app.runtime.db;
  const [[packages], [files]] = await Promise.all([db.select({ n: count() }).from(updatePackages), db.select({ n: count() }).from(cdnFiles)]);
  return { packages: packages!.n, files: files!.n };
}

describe('createUpdatePackage', () => {
  it('stores the artifact through the CDN: the bytes at packageUrl hash to checksum, size and target version recorded', async () => {
    const extensionId = uniqueId();
    const versions = await createVersions(admin, extensionId, '1.0.0', '1.1.0');
    const { pkg, bytes } = await createPackage(server, admin, { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0', size: 50_000 });
    expect(pkg).toMatchObject({
      fromVersion: '1.0.0',
      toVersion: '1.1.0',
      toVersionId: versions['1.1.0'],
      extensionId,
      productId: null,
      packageSize: 50_000,
      checksum: sha256(bytes),
      targetChecksum: sha256(bytes),
      isDelta: false,
      deltaFromVersion: null,
      createdBy: ADMIN_ID,
      distributedAt: null,
    });
    const served = Buffer.from(await (await fetch(pkg.packageUrl)).arrayBuffer());
    expect(sha256(served)).toBe(pkg.checksum);
    expect((await user.data(UpdatePackageDocument, { id: pkg.id })).updatePackage).toEqual(pkg);
  });

  it('takes an already uploaded cdnFileId, and a delta names its base (fromVersion)', async () => {
    const extensionId = uniqueId();
    const versions = await createVersions(admin, extensionId, '2.0.0', '2.1.0');
    const bytes = randomBytes(4096);
    const { uploadCdnFile: file } = await admin.data(UploadCdnFileDocument, { input: { filePath: putInUploads(server, `up/${uniqueId()}.patch`, bytes) } });
    const targetChecksum = sha256(Buffer.from('the new file'));
    const { createUpdatePackage: delta } = await admin.data(CreateUpdatePackageDocument, {
      input: { extensionId, fromVersion: '2.0.0', toVersion: '2.1.0', isDelta: true, cdnFileId: file.id, deltaFormat: 'zstd-patch', targetChecksum },
    });
    expect(delta).toMatchObject({ isDelta: true, deltaFromVersion: '2.0.0', cdnFileId: file.id, packageUrl: file.cdnUrl, checksum: sha256(bytes), deltaFormat: 'zstd-patch', targetChecksum });

    const { pkg: full } = await createPackage(server, admin, { extensionId, fromVersion: '2.0.0', toVersion: '2.1.0' });
    const { version } = await user.data(VersionWithPackagesDocument, { id: versions['2.1.0']! });
    expect(version!.updatePackages.map((p) => [p.id, p.isDelta])).toEqual([
      [full.id, false],
      [delta.id, true],
    ]);
  });

  it('refuses duplicates with CONFLICT before storing anything: one full package per version, one delta per base', async () => {
    const extensionId = uniqueId();
    await createVersions(admin, extensionId, '1.0.0', '1.0.1', '1.1.0');
    const { pkg } = await createPackage(server, admin, { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0' });
    await createPackage(server, admin, { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0', isDelta: true });
    const before = await rowCounts();

    const path = putInUploads(server, `dup/${uniqueId()}.bin`, randomBytes(1000));
    const full = await admin.request(CreateUpdatePackageDocument, { input: { extensionId, fromVersion: '1.0.1', toVersion: '1.1.0', packagePath: path } });
    expect(full.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(full.errors?.[0]?.message).toContain(pkg.id);
    const delta = await admin.request(CreateUpdatePackageDocument, { input: { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0', isDelta: true, packagePath: path } });
    expect(delta.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(await rowCounts()).toEqual(before);

    // A delta from another base is a different package.
    await createPackage(server, admin, { extensionId, fromVersion: '1.0.1', toVersion: '1.1.0', isDelta: true });
  });

  it('answers NOT_FOUND for an unknown version or CDN file, and changes nothing', async () => {
    const extensionId = uniqueId();
    await createVersions(admin, extensionId, '1.0.0', '1.1.0');
    const packagePath = putInUploads(server, `nf/${uniqueId()}.bin`, randomBytes(100));
    const before = await rowCounts();
    const cases = [
      { extensionId, fromVersion: '1.0.0', toVersion: '1.2.0', packagePath },
      { extensionId, fromVersion: '0.9.0', toVersion: '1.1.0', packagePath },
      { extensionId: uniqueId(), fromVersion: '1.0.0', toVersion: '1.1.0', packagePath },
      { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0', cdnFileId: crypto.randomUUID() },
    ];
    for (const input of cases) {
      const response = await admin.request(CreateUpdatePackageDocument, { input });
      expect({ input, code: response.errors?.[0]?.extensions?.code }).toEqual({ input, code: 'NOT_FOUND' });
    }
    expect((await admin.request(CreateUpdatePackageDocument, { input: cases[0]! })).errors?.[0]?.message).toContain('1.2.0');
    expect(await rowCounts()).toEqual(before);
  });

  it('answers BAD_USER_INPUT for invalid SemVer, a version range going down, bad sources and delta fields on a full package', async () => {
    const extensionId = uniqueId();
    await createVersions(admin, extensionId, '1.0.0', '1.1.0');
    const packagePath = putInUploads(server, `bad/${uniqueId()}.bin`, randomBytes(100));
    const before = await rowCounts();
    const base = { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0', packagePath };
    const cases: Record<string, unknown>[] = [
      { ...base, toVersion: 'v1.1.0' },
      { ...base, fromVersion: '1.0' },
      { ...base, toVersion: '01.1.0' },
      { ...base, fromVersion: '1.1.0', toVersion: '1.0.0' },
      { ...base, fromVersion: '1.1.0' },
      { ...base, packagePath: null },
      { ...base, cdnFileId: crypto.randomUUID() },
      { ...base, packagePath: '../outside.bin' },
      { ...base, packagePath: '/etc/passwd' },
      { ...base, deltaFromVersion: '1.0.0' },
      { ...base, isDelta: true, deltaFromVersion: '0.9.0' },
      { ...base, isDelta: true, targetChecksum: 'not-a-sha' },
      { ...base, extensionId: null },
    ];
    for (const input of cases) {
      const response = await admin.request(CreateUpdatePackageDocument, { input: input as never });
      expect({ input, code: response.errors?.[0]?.extensions?.code }).toEqual({ input, code: 'BAD_USER_INPUT' });
    }
    expect(await rowCounts()).toEqual(before);
  });

  it('refuses a deleted CDN file with CONFLICT, and deleteCdnFile refuses a file a package uses', async () => {
    const extensionId = uniqueId();
    await createVersions(admin, extensionId, '1.0.0', '1.1.0', '1.2.0');
    const upload = async () =>
      (await admin.data(UploadCdnFileDocument, { input: { filePath: putInUploads(server, `del/${uniqueId()}.bin`, randomBytes(500)) } })).uploadCdnFile;
    const gone = await upload();
    await admin.data(DeleteCdnFileDocument, { id: gone.id });
    const refused = await admin.request(CreateUpdatePackageDocument, { input: { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0', cdnFileId: gone.id } });
    expect(refused.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(refused.errors?.[0]?.message).toContain('DELETED');

    const used = await upload();
    await admin.data(CreateUpdatePackageDocument, { input: { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0', cdnFileId: used.id } });
    expect(await admin.errorCode(DeleteCdnFileDocument, { id: used.id })).toBe('CONFLICT');
  });

  it('never lets createUpdatePackage and deleteCdnFile both succeed on the same file', async () => {
    const extensionId = uniqueId();
    const targets = ['1.0.1', '1.0.2', '1.0.3', '1.0.4', '1.0.5'];
    await createVersions(admin, extensionId, '1.0.0', ...targets);
    for (const toVersion of targets) {
      const { uploadCdnFile: file } = await admin.data(UploadCdnFileDocument, { input: { filePath: putInUploads(server, `race/${uniqueId()}.bin`, randomBytes(300)) } });
      const [created, deleted] = await Promise.all([
        admin.request(CreateUpdatePackageDocument, { input: { extensionId, fromVersion: '1.0.0', toVersion, cdnFileId: file.id } }),
        admin.request(DeleteCdnFileDocument, { id: file.id }),
      ]);
      const outcome = [created.errors?.[0]?.extensions?.code ?? 'OK', deleted.errors?.[0]?.extensions?.code ?? 'OK'];
      expect([
        ['OK', 'CONFLICT'],
        ['CONFLICT', 'OK'],
      ]).toContainEqual(outcome);
    }
  });

  it('is for admins only; any user reads packages', async () => {
    const extensionId = uniqueId();
    await createVersions(admin, extensionId, '1.0.0', '1.1.0');
    const input = { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0', packagePath: putInUploads(server, `perm/${uniqueId()}.bin`, randomBytes(10)) };
    expect(await user.errorCode(CreateUpdatePackageDocument, { input })).toBe('FORBIDDEN');
    expect(await (await server.client(null)).errorCode(UpdatePackagesDocument, { extensionId })).toBe('UNAUTHENTICATED');
    expect((await user.data(UpdatePackagesDocument, { extensionId })).updatePackages.totalCount).toBe(0);
  });
});

describe('Version.updatePackages', () => {
  it('loads the packages of a whole page of versions in one statement', async () => {
    const extensionId = uniqueId();
    const targets = ['1.1.0', '1.2.0', '1.3.0', '1.4.0'];
    await createVersions(admin, extensionId, '1.0.0', ...targets);
    for (const toVersion of targets) await createPackage(server, admin, { extensionId, fromVersion: '1.0.0', toVersion, size: 32 });
    const { result, statements } = await recordStatements(server, () => user.data(VersionsWithPackagesDocument, { extensionId }));
    expect(result.versions.nodes.map((v) => [v.version, v.updatePackages.map((p) => p.toVersion)])).toEqual([
      ['1.4.0', ['1.4.0']],
      ['1.3.0', ['1.3.0']],
      ['1.2.0', ['1.2.0']],
      ['1.1.0', ['1.1.0']],
      ['1.0.0', []],
    ]);
    expect(statements.filter((text) => text.includes('update_packages'))).toHaveLength(1);
  });
});

describe('updatePackages', () => {
  it('lists by SemVer precedence of the target version (not text), pages with a cursor, and filters by version', async () => {
    const extensionId = uniqueId();
    const order = ['1.10.0', '1.9.0', '1.0.0', '1.0.0-rc.1', '1.0.0-alpha.10', '1.0.0-alpha.9'];
    await createVersions(admin, extensionId, '0.1.0', ...order);
    for (const toVersion of [...order].sort()) await createPackage(server, admin, { extensionId, fromVersion: '0.1.0', toVersion, size: 64 });

    const seen: string[] = [];
    let after: string | null = null;
    do {
      const { updatePackages: page }: { updatePackages: { nodes: { toVersion: string }[]; totalCount: number; pageInfo: { endCursor?: string | null } } } = await user.data(UpdatePackagesDocument, {
        extensionId,
        first: 4,
        after,
      });
      expect(page.totalCount).toBe(order.length);
      seen.push(...page.nodes.map((p) => p.toVersion));
      after = page.pageInfo.endCursor ?? null;
    } while (after);
    expect(seen).toEqual(order);

    const { updatePackages: one } = await user.data(UpdatePackagesDocument, { extensionId, version: '1.0.0-alpha.10' });
    expect(one.nodes.map((p) => p.toVersion)).toEqual(['1.0.0-alpha.10']);
    expect(await user.errorCode(UpdatePackagesDocument, { extensionId, version: '1.0' })).toBe('BAD_USER_INPUT');
    expect(await user.errorCode(UpdatePackagesDocument, { extensionId, after: 'garbage' })).toBe('BAD_USER_INPUT');
  });
});
