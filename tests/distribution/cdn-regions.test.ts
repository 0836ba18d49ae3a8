import fs from 'node:fs';
import path from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { CdnFileDocument, DeleteCdnFileDocument, UploadCdnFileDocument } from '../generated/graphql.js';
import { cdnFileRowCount, cdnStoreOf, download, eventually, putInUploads, randomBytes, sha256, storedFiles } from '../helpers/cdnFiles.js';
import type { HttpClient } from '../helpers/client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { expectTimestampBetween } from '../helpers/timestamps.js';

const REGIONS = ['us-east', 'eu-west', 'ap-south'];

let server: TestServer;
let admin: HttpClient;
let user: HttpClient;

beforeAll(async () => {
  server = await startTestServer({ CDN_REGIONS: REGIONS.join(','), CDN_RETRY_BASE_DELAY: '100ms' });
  admin = await server.client('admin');
  user = await server.client('user');
});
afterAll(() => server?.close());

const regionDir = (region: string) => path.join(cdnStoreOf(server), region);
const broken = new Set<string>();

/** Makes a region's origin unusable the way a lost mount would: its directory becomes a regular file (root ignores chmod). */
function breakRegion(region: string) {
  const dir = regionDir(region);
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  if (fs.existsSync(dir)) fs.renameSync(dir, `${dir}.offline`);
  fs.writeFileSync(dir, 'origin offline');
  broken.add(region);
}

function healRegion(region: string) {
  const dir = regionDir(region);
  fs.rmSync(dir, { force: true });
  if (fs.existsSync(`${dir}.offline`)) fs.renameSync(`${dir}.offline`, dir);
  broken.delete(region);
}

afterEach(() => {
  for (const region of [...broken]) healRegion(region);
});

let counter = 0;
async function upload(size = 50_000) {
  const bytes = randomBytes(size);
  const filePath = putInUploads(server, `region-${++counter}.bin`, bytes);
  const response = await admin.request(UploadCdnFileDocument, { input: { filePath } });
  return { bytes, response, file: response.data?.uploadCdnFile };
}

describe('CDN_REGIONS', () => {
  it('replicates every upload to each region, each with its own URL serving the same bytes', async () => {
    const { bytes, file } = await upload();
    expect(file?.distributionStatus).toBe('COMPLETE');
    expect(file?.regions.map((r) => [r.region, r.status])).toEqual(REGIONS.map((region) => [region, 'AVAILABLE']));
    expect(file?.regions[0]?.url).toBe(file?.cdnUrl);
    expect(file?.cdnUrl).toBe(`${server.url}/cdn/${file?.id}/${file?.fileName}`);
    for (const region of file!.regions) {
      if (region.region !== 'us-east') expect(region.url).toBe(`${server.url}/cdn/${region.region}/${file?.id}/${file?.fileName}`);
      const served = await download(region.url);
      expect(served.status).toBe(200);
      expect(served.headers.get('x-cdn-region')).toBe(region.region);
      expect(sha256(served.body)).toBe(sha256(bytes));
    }
    for (const region of REGIONS) {
      expect(storedFiles(server).filter((f) => f.startsWith(`${region}${path.sep}objects`) && f.endsWith(file!.checksum))).toHaveLength(1);
    }
  });

  it('reports a file partially distributed while a region fails, serves it from the others, and heals the region in the background', async () => {
    breakRegion('eu-west');
    const uploadStarted = Date.now();
    const { bytes, file, response } = await upload();
    expect(response.errors).toBeUndefined();
    expect(file?.distributionStatus).toBe('PARTIAL');
    const euWest = file!.regions.find((r) => r.region === 'eu-west')!;
    expect(euWest).toMatchObject({ status: 'FAILED', attempts: 1, lastError: 'local store, region eu-west: storing an object failed (ENOTDIR)' });
    // The first retry is scheduled after the failure, within the longest backoff (1 h).
    expectTimestampBetween(euWest.nextAttemptAt, uploadStarted, Date.now() + 3_600_000);
    expect(file!.regions.filter((r) => r.status === 'AVAILABLE').map((r) => r.region)).toEqual(['us-east', 'ap-south']);

    // The region's URL still works: it fails over to a healthy region.
    const failover = await download(euWest.url);
    expect(failover.status).toBe(200);
    expect(failover.headers.get('x-cdn-region')).toBe('us-east');
    expect(sha256(failover.body)).toBe(sha256(bytes));

    // Retried with backoff while broken.
    const retried = await eventually(async () => {
      const { cdnFile } = await user.data(CdnFileDocument, { id: file!.id });
      const region = cdnFile?.regions.find((r) => r.region === 'eu-west');
      return region && region.attempts >= 3 ? region : undefined;
    }, 10_000, 'several retries of eu-west');
    expect(retried.status).toBe('FAILED');

    healRegion('eu-west');
    const healed = await eventually(async () => {
      const { cdnFile } = await user.data(CdnFileDocument, { id: file!.id });
      return cdnFile?.distributionStatus === 'COMPLETE' ? cdnFile : undefined;
    }, 15_000, 'eu-west healed');
    expect(healed.regions.find((r) => r.region === 'eu-west')).toMatchObject({ status: 'AVAILABLE', lastError: null, nextAttemptAt: null });
    const direct = await download(euWest.url);
    expect(direct.headers.get('x-cdn-region')).toBe('eu-west');
    expect(sha256(direct.body)).toBe(sha256(bytes));
  });

  it('notices bytes lost from a region when serving, fails over, and copies them back', async () => {
    const { bytes, file } = await upload();
    const key = path.join(regionDir('us-east'), 'keys', file!.id, file!.fileName);
    fs.rmSync(key);
    const served = await download(file!.cdnUrl);
    expect(served.status).toBe(200);
    expect(served.headers.get('x-cdn-region')).toBe('eu-west');
    expect(sha256(served.body)).toBe(sha256(bytes));
    await eventually(async () => {
      const { cdnFile } = await user.data(CdnFileDocument, { id: file!.id });
      return cdnFile?.distributionStatus === 'COMPLETE' && fs.existsSync(key) ? true : undefined;
    }, 10_000, 'us-east restored');
    const restored = await download(file!.cdnUrl);
    expect(restored.headers.get('x-cdn-region')).toBe('us-east');
    expect(sha256(restored.body)).toBe(sha256(bytes));
  });

  it('refuses the upload when every region fails, naming each, and keeps nothing', async () => {
    for (const region of REGIONS) breakRegion(region);
    const rowsBefore = await cdnFileRowCount(server);
    const { response } = await upload();
    expect(response.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    for (const region of REGIONS) expect(response.errors?.[0]?.message).toContain(`${region}: local store, region ${region}: storing an object failed (ENOTDIR)`);
    expect(await cdnFileRowCount(server)).toBe(rowsBefore);
  });

  it('deletes from every region, finishing a region that was offline once it is back', async () => {
    const { file } = await upload();
    const stored = () => storedFiles(server).filter((f) => f.endsWith(file!.checksum) || f.includes(file!.id));
    expect(stored()).toHaveLength(REGIONS.length * 2); // one blob and one key per region
    breakRegion('ap-south');
    expect(await admin.data(DeleteCdnFileDocument, { id: file!.id })).toEqual({ deleteCdnFile: true });
    expect((await download(file!.cdnUrl)).status).toBe(404);

    const pending = await user.data(CdnFileDocument, { id: file!.id, includeDeleted: true });
    expect(pending.cdnFile?.status).toBe('DELETED');
    expect(pending.cdnFile?.regions.map((r) => [r.region, r.status])).toEqual([
      ['us-east', 'REMOVED'],
      ['eu-west', 'REMOVED'],
      ['ap-south', 'REMOVING'],
    ]);

    healRegion('ap-south');
    await eventually(async () => {
      const { cdnFile } = await user.data(CdnFileDocument, { id: file!.id, includeDeleted: true });
      return cdnFile?.regions.every((r) => r.status === 'REMOVED') ? true : undefined;
    }, 15_000, 'ap-south removal retried');
    expect(stored()).toEqual([]);
  });
});
