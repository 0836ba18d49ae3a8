#!/usr/bin/env node
// The package's command (`npx dev-forge-distribution apply-delta …`), compiled to
// dist/src/bin/ by `npm run build` (package.json "bin" points there).
import { main } from '../delta/cli.js';

process.exitCode = await main(process.argv.slice(2));
