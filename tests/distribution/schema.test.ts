import fs from 'node:fs';
import path from 'node:path';

import { generate, loadCodegenConfig } from '@graphql-codegen/cli';
import { buildSchema } from 'graphql';
import { describe, expect, it } from 'vitest';

import { buildGraphQLSchema, printSDL } from '../../src/graphql/schema.js';
import { repoRoot } from '../helpers/server.js';

/**
 * The committed artifacts clients build against must match the code: schema/schema.graphql
 * (the SDL dashboards and client codegen read) and tests/generated/graphql.ts (the typed
 * operations these tests use). Either going stale fails here with the command that fixes it.
 */

const SDL_FILE = path.join(repoRoot, 'schema', 'schema.graphql');

describe('committed schema', () => {
  it('schema/schema.graphql is the SDL the code builds (else run `npm run schema:emit` and commit it)', async () => {
    const current = printSDL(await buildGraphQLSchema());
    const committed = fs.readFileSync(SDL_FILE, 'utf8');
    expect(committed === current, 'schema/schema.graphql is stale: run `npm run schema:emit` and commit the result').toBe(true);
  });

  it('declares the contract’s type names', () => {
    const schema = buildSchema(fs.readFileSync(SDL_FILE, 'utf8'));
    for (const name of ['Version', 'ChangelogEntry', 'ChangeType', 'VersionComparison', 'DateTime', 'JSONObject']) {
      expect(schema.getType(name), name).toBeDefined();
    }
  });
});

describe('generated operations', () => {
  it('tests/generated/graphql.ts is what codegen generates now (else run `npm run codegen` and commit it)', async () => {
    const { config } = await loadCodegenConfig({ configFilePath: path.join(repoRoot, 'codegen.yml') });
    const outputs = (await generate({ ...config, cwd: repoRoot, silent: true, watch: false }, false)) as { filename: string; content: string }[];
    expect(outputs.map((output) => path.resolve(repoRoot, output.filename))).toEqual([path.join(repoRoot, 'tests/generated/graphql.ts')]);
    const committed = fs.readFileSync(path.join(repoRoot, 'tests/generated/graphql.ts'), 'utf8');
    expect(committed === outputs[0]!.content, 'tests/generated/graphql.ts is stale: run `npm run codegen` and commit the result').toBe(true);
  }, 60_000);
});
