import fs from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { mintToken } from '../../src/auth/tokens.js';
import { applyDelta } from '../../src/delta/index.js';
import { CreateUpdatePackageDocument, DeltaGenerationDocument, GenerateDeltaPackageDocument } from '../generated/graphql.js';
import { makeGzip, makeTar, sourceText } from '../helpers/archives.js';
import { sha256 } from '../helpers/cdnFiles.js';
import { HttpClient } from '../helpers/client.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createVersions } from '../helpers/distribution.js';
import { ADMIN_ID, spawnServer, TEST_JWT_SECRET, uniqueId, type SpawnedServer } from '../helpers/server.js';

/**
 * The compiled server as `npm start` runs it: there the job generates on a worker thread
 * (dist/src/delta/generateWorker.js), which the in-process test servers cannot load.
 */
let database: TestDatabase;
let server: SpawnedServer;
let admin: HttpClient;

beforeAll(async () => {
  database = await createTestDatabase();
  server = await spawnServer({}, database, 110_000);
  admin = new HttpClient(`${server.url}/graphql`, await mintToken({ secret: TEST_JWT_SECRET, role: 'admin', sub: ADMIN_ID }));
  // A fresh PGlite DATA_DIR (initdb + migrations) on a loaded machine can take over a minute.
}, 120_000);
afterAll(async () => {
  await server?.stop();
  await database?.drop();
});

const release = (minor: number) =>
  makeGzip(makeTar([{ name: 'package/index.js', content: sourceText(9, 6000) + sourceText(90 + minor, 25) }, { name: 'package/package.json', content: `{"version":"1.${minor}.0"}` }]));

describe('generateDeltaPackage on a production server process', () => {
  it('generates on the worker thread and the result rebuilds the full package', async () => {
    const extensionId = uniqueId('delta-proc');
    await createVersions(admin, extensionId, '0.0.1', '1.0.0', '1.1.0');
    const bytes = [release(0), release(1)];
    const uploads = path.join(database.dataDir, 'uploads', 'delta-proc');
    fs.mkdirSync(uploads, { recursive: true });
    for (const [index, version] of ['1.0.0', '1.1.0'].entries()) {
      fs.writeFileSync(path.join(uploads, `${extensionId}-${version}.tgz`), bytes[index]!);
      await admin.data(CreateUpdatePackageDocument, { input: { extensionId, fromVersion: '0.0.1', toVersion: version, packagePath: `delta-proc/${extensionId}-${version}.tgz` } });
    }
    const { generateDeltaPackage: started } = await admin.data(GenerateDeltaPackageDocument, { input: { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0' } });
    const deadline = Date.now() + 60_000;
    let generation = (await admin.data(DeltaGenerationDocument, { id: started.id })).deltaGeneration!;
    while (generation.status !== 'SUCCEEDED' && generation.status !== 'FAILED' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      generation = (await admin.data(DeltaGenerationDocument, { id: started.id })).deltaGeneration!;
    }
    expect(generation).toMatchObject({ status: 'SUCCEEDED', progress: 100, error: null, package: { isDelta: true, deltaFormat: 'dfd1-gzip', targetChecksum: sha256(bytes[1]!) } });
    const delta = Buffer.from(await (await fetch(generation.package!.packageUrl)).arrayBuffer());
    expect(applyDelta(bytes[0]!, delta).equals(bytes[1]!)).toBe(true);
    expect(server.output()).toMatch(/"onWorkerThread":true[^\n]*"msg":"delta generated"/);
  }, 120_000);
});
