import fs from 'node:fs';

import { buildSchema as buildSdlSchema, execute, parse, type GraphQLSchema } from 'graphql';
import { describe, expect, it } from 'vitest';

import type { Caller } from '../../src/auth/tokens.js';
import { assertAccess, PERMISSIONS } from '../../src/graphql/permissions.js';
import { buildGraphQLSchema, guardSchema } from '../../src/graphql/schema.js';
import { ACCESS_SPEC, type RootName } from '../spec/access.js';

/**
 * Deny by default is only safe when every root field has a rule on purpose: a field added
 * without one is forbidden to everybody (a bug users notice), and a rule naming a field that
 * no longer exists hides a rename. Both fail here. The rules themselves are compared with the
 * written specification (tests/spec/access.ts), never with themselves.
 */
const schema = await buildGraphQLSchema();
const roots = {
  Query: schema.getQueryType(),
  Mutation: schema.getMutationType(),
  Subscription: schema.getSubscriptionType(),
} as const;

const USER: Caller = { id: '00000000-0000-4000-8000-00000000b0b0', role: 'user' };
const ADMIN: Caller = { id: '00000000-0000-4000-8000-00000000a0a0', role: 'admin' };

describe('PERMISSIONS', () => {
  for (const [rootName, type] of Object.entries(roots) as [RootName, (typeof roots)[RootName]][]) {
    const fields = Object.keys(type?.getFields() ?? {});

    it(`has an access rule for every ${rootName} field`, () => {
      const missing = fields.filter((field) => !(field in PERMISSIONS[rootName]));
      expect(missing, `add these ${rootName} fields to PERMISSIONS in src/graphql/permissions.ts`).toEqual([]);
    });

    it(`names only ${rootName} fields that exist`, () => {
      const stale = Object.keys(PERMISSIONS[rootName]).filter((field) => !fields.includes(field));
      expect(stale, `remove or rename these PERMISSIONS.${rootName} entries`).toEqual([]);
    });

    it(`gives every ${rootName} field the role the specification names`, () => {
      // No field is public (every operation needs a caller), so the spec's roles map one to one.
      const granted = Object.fromEntries(fields.map((field) => [field, PERMISSIONS[rootName][field]]));
      const specified = Object.fromEntries(fields.map((field) => [field, ACCESS_SPEC[rootName][field]]));
      expect(granted).toEqual(specified);
    });
  }

  it('has no root type besides Query, Mutation and Subscription', () => {
    expect(Object.keys(PERMISSIONS).sort()).toEqual(['Mutation', 'Query', 'Subscription']);
  });
});

describe('assertAccess (WebSocket operations and the HTTP fast path)', () => {
  const codeOf = (run: () => void): string | undefined => {
    try {
      run();
      return undefined;
    } catch (error) {
      return (error as { extensions?: { code?: string } }).extensions?.code;
    }
  };

  it('refuses a missing caller with UNAUTHENTICATED, whatever the rule', () => {
    for (const access of ['user', 'admin', undefined] as const) expect(codeOf(() => assertAccess(null, access, 'Query.x'))).toBe('UNAUTHENTICATED');
  });

  it('lets users and admins use user fields, only admins admin fields', () => {
    expect(codeOf(() => assertAccess(USER, 'user', 'Query.versions'))).toBeUndefined();
    expect(codeOf(() => assertAccess(ADMIN, 'user', 'Query.versions'))).toBeUndefined();
    expect(codeOf(() => assertAccess(ADMIN, 'admin', 'Mutation.createVersion'))).toBeUndefined();
    expect(codeOf(() => assertAccess(USER, 'admin', 'Mutation.createVersion'))).toBe('FORBIDDEN');
    expect(() => assertAccess(USER, 'admin', 'Mutation.createVersion')).toThrow('Mutation.createVersion needs the admin role');
  });

  it('denies a field without a rule to everybody, naming it', () => {
    for (const caller of [USER, ADMIN]) expect(codeOf(() => assertAccess(caller, undefined, 'Query.secret'))).toBe('FORBIDDEN');
    expect(() => assertAccess(ADMIN, undefined, 'Query.secret')).toThrow('Query.secret has no access rule and is denied');
  });
});

describe('the guarded schema (graphql-shield on HTTP)', () => {
  const guarded = guardSchema(schema);
  /** Runs one operation as `caller`: resolvers that pass the guard then fail on the absent services, which is not a denial. */
  const run = async (target: GraphQLSchema, source: string, caller: Caller | null, rootValue?: unknown) => {
    const result = await execute({ schema: target, document: parse(source), contextValue: { caller, services: {}, loaders: {} }, rootValue });
    return (result.errors ?? []).map((error) => ({ code: error.extensions?.code as string | undefined, message: error.message }));
  };
  const denial = (errors: { code: string | undefined }[]) => errors.map((error) => error.code).find((code) => code === 'FORBIDDEN' || code === 'UNAUTHENTICATED');

  it('answers anonymous callers UNAUTHENTICATED on user and admin fields', async () => {
    expect(denial(await run(guarded, '{ compareVersions(version1: "1.0.0", version2: "1.0.1") { result } }', null))).toBe('UNAUTHENTICATED');
    expect(denial(await run(guarded, '{ rollbackPlans { totalCount } }', null))).toBe('UNAUTHENTICATED');
  });

  it('lets a user run a user field and refuses an admin one with FORBIDDEN naming the role', async () => {
    expect(denial(await run(guarded, '{ compareVersions(version1: "1.0.0", version2: "1.0.1") { result newer } }', USER))).toBeUndefined();
    const refused = await run(guarded, 'mutation { deprecateVersion(id: "00000000-0000-4000-8000-000000000001", reason: "r") { id } }', USER);
    expect(refused).toEqual([{ code: 'FORBIDDEN', message: 'This operation needs the admin role' }]);
  });

  it('lets an admin run both', async () => {
    expect(denial(await run(guarded, '{ compareVersions(version1: "1.0.0", version2: "1.0.1") { result } }', ADMIN))).toBeUndefined();
    expect(denial(await run(guarded, 'mutation { deprecateVersion(id: "00000000-0000-4000-8000-000000000001", reason: "r") { id } }', ADMIN))).toBeUndefined();
  });

  it('denies a root field that has no rule, even to an admin, and leaves fields of object types alone', async () => {
    // A schema with one field PERMISSIONS does not name: the fallback rule must deny it.
    const sdl = buildSdlSchema(`${fs.readFileSync(new URL('../../schema/schema.graphql', import.meta.url), 'utf8')}\nextend type Query { unruled: String }`);
    const guardedSdl = guardSchema(sdl);
    const rootValue = { unruled: 'secret', compareVersions: () => ({ version1: '1.0.0', version2: '1.0.1', result: -1, newer: '1.0.1' }) };
    const unruled = await run(guardedSdl, '{ unruled }', ADMIN, rootValue);
    expect(unruled).toEqual([{ code: 'FORBIDDEN', message: 'This operation has no access rule and is denied' }]);
    const result = await execute({ schema: guardedSdl, document: parse('{ compareVersions(version1: "1.0.0", version2: "1.0.1") { result newer } }'), contextValue: { caller: USER }, rootValue });
    expect(result).toEqual({ data: { compareVersions: { result: -1, newer: '1.0.1' } } });
  });
});
