import { getOperationAST, parse } from 'graphql';
import { describe, expect, it } from 'vitest';

import { selectionVariables } from '../../src/server/subscriptionDelivery.js';

/**
 * Subscribers of one event share one execution when their variables that reach the selection
 * are equal (src/server/subscriptionDelivery.ts). Root field arguments only choose the events
 * (an updateAvailable client's clientId and version), so they must not split the sharing: with
 * them counted, 10,000 clients with their own clientIds cost 10,000 executions per offer.
 */
function variablesOf(query: string): string[] {
  const document = parse(query);
  return selectionVariables(document, getOperationAST(document)!);
}

describe('selectionVariables', () => {
  it('leaves out variables that only feed root field arguments, also inside lists and input objects', () => {
    expect(variablesOf('subscription ($e: ID, $v: String!, $c: String) { updateAvailable(extensionId: $e, currentVersion: $v, clientId: $c) { toVersion } }')).toEqual([]);
    expect(variablesOf('query ($ids: [ID!]!, $v: String!) { a: versionsByIds(ids: [$ids]) { id } b: versions(filter: { version: $v }) { nodes { id } } }')).toEqual([]);
  });

  it('keeps variables used inside the selection or in a directive, also through fragments', () => {
    expect(variablesOf('query ($e: ID, $n: Int) { latestVersion(extensionId: $e) { updatePackages(first: $n) { id } } }')).toEqual(['n']);
    expect(variablesOf('subscription ($e: ID, $skip: Boolean!) { versionPublished(extensionId: $e) @skip(if: $skip) { id } }')).toEqual(['skip']);
    expect(variablesOf('subscription ($e: ID, $with: Boolean!) { versionPublished(extensionId: $e) { ...F } } fragment F on Version { id changelog @include(if: $with) { type } }')).toEqual(['with']);
  });
});
