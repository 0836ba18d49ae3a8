import fs from 'node:fs';
import path from 'node:path';

import { packageRoot } from '../paths.js';
import { buildGraphQLSchema, printSDL } from './schema.js';

/** `npm run schema:emit` writes schema/schema.graphql; `schema:check` fails when it is stale. */
export const SDL_FILE = path.join(packageRoot, 'schema', 'schema.graphql');

async function main(): Promise<void> {
  const sdl = printSDL(await buildGraphQLSchema());
  if (process.argv.includes('--check')) {
    const committed = fs.existsSync(SDL_FILE) ? fs.readFileSync(SDL_FILE, 'utf8') : '';
    if (committed !== sdl) {
      process.stderr.write('schema/schema.graphql is stale: run `npm run schema:emit` and commit the result\n');
      process.exit(1);
    }
    process.stdout.write('schema/schema.graphql is up to date\n');
    return;
  }
  fs.mkdirSync(path.dirname(SDL_FILE), { recursive: true });
  fs.writeFileSync(SDL_FILE, sdl);
  process.stdout.write(`wrote ${path.relative(process.cwd(), SDL_FILE)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`schema: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
