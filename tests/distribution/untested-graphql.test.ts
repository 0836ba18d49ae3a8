import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { LatestVersionDocument } from '../generated/graphql.js';
import type { HttpClient } from '../helpers/client.js';
import { startTestServer, uniqueId, type TestServer } from '../helpers/server.js';

/**
 * Issue 11.3: a WebSocket document holding several operations, sent without naming the one to
 * run — refused without running any of them, and the socket stays usable.
 */

let server: TestServer;
let user: HttpClient;

beforeAll(async () => {
  server = await startTestServer();
  user = await server.client('user');
});
afterAll(() => server?.close());

interface Outcome {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** One operation over graphql-ws with an optional operationName: its first result or the errors it was refused with. */
function run(client: Client, query: string, operationName?: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const dispose = client.subscribe<Record<string, unknown>>(
      { query, ...(operationName !== undefined ? { operationName } : {}) },
      {
        next: (result) => {
          if (settled) return;
          settled = true;
          resolve(result as Outcome);
          dispose();
        },
        error: (error) => {
          if (settled) return;
          settled = true;
          if (Array.isArray(error)) resolve({ errors: error as Outcome['errors'] });
          else reject(error instanceof Error ? error : new Error(`socket closed: ${JSON.stringify(error)}`));
        },
        complete: () => {
          if (!settled) reject(new Error('completed without a result'));
        },
      },
    );
  });
}

describe('a multi-operation document over WebSocket', () => {
  it('without operationName (or naming none of its operations) is BAD_USER_INPUT and runs nothing; naming one runs that one', async () => {
    const extensionId = uniqueId();
    const document = `
      query Compare { compareVersions(version1: "1.0.0", version2: "2.0.0") { result } }
      mutation Create { createVersion(input: { version: "1.0.0", extensionId: "${extensionId}" }) { id version } }
    `;
    const client = await server.ws('admin');
    const refusal = [['BAD_USER_INPUT', 'Name the operation to run: the document has several or none']];
    for (const operationName of [undefined, 'Missing']) {
      const outcome = await run(client, document, operationName);
      expect(outcome.errors?.map((error) => [error.extensions?.code, error.message]), String(operationName)).toEqual(refusal);
      expect(outcome.data ?? null).toBeNull();
    }
    expect((await user.data(LatestVersionDocument, { extensionId })).latestVersion).toBeNull();

    // The same socket still runs named operations.
    expect(await run(client, document, 'Compare')).toEqual({ data: { compareVersions: { result: -1 } } });
    const created = await run(client, document, 'Create');
    expect(created.errors).toBeUndefined();
    expect(created.data).toMatchObject({ createVersion: { version: '1.0.0' } });
    expect((await user.data(LatestVersionDocument, { extensionId })).latestVersion?.version).toBe('1.0.0');
  });

  it('a user naming the query of a document that also holds an admin mutation gets the query answered', async () => {
    const client = await server.ws('user');
    const document = `
      query Compare { compareVersions(version1: "2.0.0", version2: "1.0.0") { result } }
      mutation Create { createVersion(input: { version: "1.0.0", extensionId: "${uniqueId()}" }) { id } }
    `;
    expect(await run(client, document, 'Compare')).toEqual({ data: { compareVersions: { result: 1 } } });
    const forbidden = await run(client, document, 'Create');
    expect(forbidden.errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
  });
});
