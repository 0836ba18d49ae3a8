#!/usr/bin/env node
// The package's command (`npx dev-forge-distribution apply-delta …`): runs the compiled CLI (npm run build).
import { main } from '../dist/src/delta/cli.js';

process.exitCode = await main(process.argv.slice(2));
