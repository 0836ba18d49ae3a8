import crypto from 'node:crypto';

import {
  getNamedType,
  isCompositeType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLObjectType,
} from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { buildGraphQLSchema } from '../../src/graphql/schema.js';
import { HttpClient, subscribe, wsRequest } from '../helpers/client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { ACCESS_SPEC, type Role, type RootName } from '../spec/access.js';

/**
 * The access matrix as a specification: every root field of the built schema must have a row in
 * tests/spec/access.ts (written from the contract, independent of src/graphql/permissions.ts),
 * and the running server must answer each role as that row says, over HTTP (both the Apollo
 * path and the compiled fast path a repeated query takes) and over WebSocket. A field added
 * without a row, a row naming a field that is gone, or a rule changed in the code fails here.
 */

interface RootField {
  /** `Query.versions`, for test names. */
  id: string;
  root: RootName;
  name: string;
  role: Role | undefined;
  query: string;
  variables: Record<string, unknown>;
}

/** Values that coerce for each scalar; an unknown scalar fails loudly so it gets one. */
const SCALAR_VALUES: Record<string, () => unknown> = {
  ID: () => crypto.randomUUID(),
  String: () => '1.0.0',
  Int: () => 1,
  Float: () => 1.5,
  Boolean: () => true,
  DateTime: () => new Date(Date.now() + 3_600_000).toISOString(),
  DateTimeISO: () => new Date(Date.now() + 3_600_000).toISOString(),
  JSONObject: () => ({ probe: true }),
  JSON: () => ({ probe: true }),
  SafeInt: () => 1,
  BigInt: () => 1,
  UUID: () => crypto.randomUUID(),
  NonNegativeInt: () => 1,
  PositiveInt: () => 1,
  URL: () => 'https://example.com/probe',
};

/** A value of `type` that passes GraphQL coercion (required fields of inputs, one-item lists). */
function dummyValue(type: GraphQLInputType, path: string, seen: ReadonlySet<string> = new Set()): unknown {
  if (isNonNullType(type)) return dummyValue(type.ofType, path, seen);
  if (isListType(type)) return [dummyValue(type.ofType, `${path}[0]`, seen)];
  if (isEnumType(type)) return type.getValues()[0]!.name;
  if (isInputObjectType(type)) {
    const inner = new Set(seen).add(type.name);
    const value: Record<string, unknown> = {};
    for (const field of Object.values(type.getFields())) {
      // Nullable fields too (more coercion exercised), except ones that would recurse.
      if (!isNonNullType(field.type) && inner.has(getNamedType(field.type).name)) continue;
      value[field.name] = dummyValue(field.type, `${path}.${field.name}`, inner);
    }
    return value;
  }
  if (isScalarType(type)) {
    const make = SCALAR_VALUES[type.name];
    if (!make) throw new Error(`no dummy value for scalar ${type.name} (at ${path}): add one to SCALAR_VALUES in ${import.meta.url}`);
    return make();
  }
  throw new Error(`unexpected input type at ${path}`);
}

function operationFor(root: RootName, field: GraphQLField<unknown, unknown>): Pick<RootField, 'query' | 'variables'> {
  const variables: Record<string, unknown> = {};
  const definitions: string[] = [];
  const args: string[] = [];
  for (const arg of field.args) {
    variables[arg.name] = dummyValue(arg.type, `${root}.${field.name}(${arg.name})`);
    definitions.push(`$${arg.name}: ${String(arg.type)}`);
    args.push(`${arg.name}: $${arg.name}`);
  }
  const selection = isCompositeType(getNamedType(field.type)) ? ' { __typename }' : '';
  const query =
    `${root.toLowerCase()} Probe_${field.name}${definitions.length ? `(${definitions.join(', ')})` : ''} ` +
    `{ ${field.name}${args.length ? `(${args.join(', ')})` : ''}${selection} }`;
  return { query, variables };
}

const schema = await buildGraphQLSchema();
const roots: [RootName, GraphQLObjectType | null | undefined][] = [
  ['Query', schema.getQueryType()],
  ['Mutation', schema.getMutationType()],
  ['Subscription', schema.getSubscriptionType()],
];
const rootFields: RootField[] = roots.flatMap(([root, type]) =>
  Object.values(type?.getFields() ?? {}).map((field) => ({ id: `${root}.${field.name}`, root, name: field.name, role: ACCESS_SPEC[root][field.name], ...operationFor(root, field) })),
);
// Only fields with a row are probed; a field without one fails the completeness test below.
const specified = rootFields.filter((field) => field.role !== undefined);
const httpFields = specified.filter((field) => field.root !== 'Subscription');
const subscriptionFields = specified.filter((field) => field.root === 'Subscription');
const userMay = (role: Role | undefined) => role === 'public' || role === 'user';

const DENIED = ['UNAUTHENTICATED', 'FORBIDDEN'];
const codesOf = (errors: readonly unknown[] | undefined) => ((errors ?? []) as { extensions?: { code?: string } }[]).map((error) => error.extensions?.code);
const denials = (errors: readonly unknown[] | undefined) => codesOf(errors).filter((code) => DENIED.includes(code!));

let server: TestServer;
let anonymous: HttpClient;
let user: HttpClient;
let admin: HttpClient;

beforeAll(async () => {
  server = await startTestServer();
  anonymous = await server.client(null);
  user = await server.client('user');
  admin = await server.client('admin');
});
afterAll(() => server?.close());

describe('the specification covers the schema exactly', () => {
  it.each(roots.map(([root]) => root))('every %s field of the schema has a row, and every row a field', (root) => {
    const inSchema = rootFields.filter((field) => field.root === root).map((field) => field.name).sort();
    const missing = inSchema.filter((name) => !(name in ACCESS_SPEC[root]));
    const stale = Object.keys(ACCESS_SPEC[root]).filter((name) => !inSchema.includes(name));
    expect(missing, `${root} fields with no row in tests/spec/access.ts: add each with the role the contract gives it`).toEqual([]);
    expect(stale, `${root} rows in tests/spec/access.ts naming no field of the schema`).toEqual([]);
  });

  it('walks the contract fields (so an empty walk cannot pass silently)', () => {
    const names = rootFields.map((field) => field.id);
    for (const name of ['Query.versions', 'Query.checkForUpdates', 'Mutation.createVersion', 'Mutation.invalidateCdnCache', 'Subscription.updateAvailable', 'Subscription.rollbackPlanStatus']) {
      expect(names).toContain(name);
    }
    expect(subscriptionFields.some((field) => field.role === 'admin')).toBe(true);
  });
});

describe.each(httpFields)('$id ($role) over HTTP', (field) => {
  it(field.role === 'public' ? 'answers without a token' : 'is UNAUTHENTICATED (HTTP 401) without a token', async () => {
    const response = await anonymous.request(field.query, field.variables);
    if (field.role === 'public') {
      expect(denials(response.errors)).toEqual([]);
      return;
    }
    expect(response.status).toBe(401);
    expect(codesOf(response.errors)).toEqual(['UNAUTHENTICATED']);
    expect(response.data ?? null).toBeNull();
  });

  it(`${userMay(field.role) ? 'lets a user through' : 'is FORBIDDEN to a user'}, the first time and on a repeat (compiled fast path)`, async () => {
    for (const attempt of ['first', 'repeat']) {
      const response = await user.request<Record<string, unknown>>(field.query, field.variables);
      if (userMay(field.role)) {
        expect(denials(response.errors), `${field.id}, ${attempt}`).toEqual([]);
      } else {
        expect(codesOf(response.errors), `${field.id}, ${attempt}`).toEqual(['FORBIDDEN']);
        expect(response.errors?.[0]?.message, field.id).toMatch(/admin/);
        expect(response.data?.[field.name] ?? null).toBeNull();
      }
    }
  });

  it('lets an admin through', async () => {
    for (const attempt of ['first', 'repeat']) {
      const response = await admin.request(field.query, field.variables);
      expect(denials(response.errors), `${field.id}, ${attempt}`).toEqual([]);
    }
  });
});

describe.each(httpFields)('$id ($role) over WebSocket', (field) => {
  it(`${userMay(field.role) ? 'lets a user through' : 'is FORBIDDEN to a user'}; lets an admin through`, async () => {
    const [asUser, asAdmin] = await Promise.all([
      server.ws('user').then((client) => wsRequest(client, field.query, field.variables)),
      server.ws('admin').then((client) => wsRequest(client, field.query, field.variables)),
    ]);
    if (userMay(field.role)) expect(denials(asUser.errors), field.id).toEqual([]);
    else expect(codesOf(asUser.errors), field.id).toEqual(['FORBIDDEN']);
    expect(denials(asAdmin.errors), field.id).toEqual([]);
  });
});

describe.each(subscriptionFields)('subscription $id ($role)', (field) => {
  it(`${userMay(field.role) ? 'lets a user subscribe' : 'refuses a user with FORBIDDEN at subscribe time'}`, async () => {
    const client = await server.ws('user');
    const subscription = await subscribe(client, field.query, field.variables);
    // A query on the same socket round-trips after the subscribe message was handled.
    expect((await wsRequest(client, '{ __typename }')).data).toEqual({ __typename: 'Query' });
    if (userMay(field.role)) {
      expect(await subscription.quietFor(200)).toBe(true);
      expect(subscription.errors, field.id).toEqual([]);
    } else {
      // graphql-ws reports the refusal as one `error` message carrying the GraphQL errors.
      expect(subscription.errors).toHaveLength(1);
      expect(codesOf(subscription.errors[0] as unknown[]), field.id).toEqual(['FORBIDDEN']);
      expect((subscription.errors[0] as { message: string }[])[0]!.message).toMatch(/admin/);
    }
    subscription.close();
  });

  it('lets an admin subscribe', async () => {
    const client = await server.ws('admin');
    const subscription = await subscribe(client, field.query, field.variables);
    expect((await wsRequest(client, '{ __typename }')).data).toEqual({ __typename: 'Query' });
    expect(await subscription.quietFor(200)).toBe(true);
    expect(subscription.errors, field.id).toEqual([]);
    subscription.close();
  });
});
