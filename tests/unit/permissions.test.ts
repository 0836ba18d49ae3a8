import { describe, expect, it } from 'vitest';

import { buildGraphQLSchema } from '../../src/graphql/schema.js';
import { PERMISSIONS } from '../../src/graphql/permissions.js';

/**
 * Deny by default is only safe when every root field has a rule on purpose: a field added
 * without one is forbidden to everybody (a bug users notice), and a rule naming a field that
 * no longer exists hides a rename. Both fail here.
 */
const schema = await buildGraphQLSchema();
const roots = {
  Query: schema.getQueryType(),
  Mutation: schema.getMutationType(),
  Subscription: schema.getSubscriptionType(),
} as const;

describe('PERMISSIONS', () => {
  for (const [rootName, type] of Object.entries(roots) as [keyof typeof PERMISSIONS, (typeof roots)[keyof typeof roots]][]) {
    const fields = Object.keys(type?.getFields() ?? {});

    it(`has an access rule for every ${rootName} field`, () => {
      const missing = fields.filter((field) => !(field in PERMISSIONS[rootName]));
      expect(missing, `add these ${rootName} fields to PERMISSIONS in src/graphql/permissions.ts`).toEqual([]);
    });

    it(`names only ${rootName} fields that exist`, () => {
      const stale = Object.keys(PERMISSIONS[rootName]).filter((field) => !fields.includes(field));
      expect(stale, `remove or rename these PERMISSIONS.${rootName} entries`).toEqual([]);
    });

    it(`gives every ${rootName} rule a known access level`, () => {
      for (const access of Object.values(PERMISSIONS[rootName])) expect(['user', 'admin']).toContain(access);
    });
  }

  it('has no root type besides Query, Mutation and Subscription', () => {
    expect(Object.keys(PERMISSIONS).sort()).toEqual(['Mutation', 'Query', 'Subscription']);
  });
});
