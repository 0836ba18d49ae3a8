import { parseArgs } from 'node:util';

import { applyDeltaFile } from './applyFile.js';
import { DeltaError } from './errors.js';

const USAGE = `Usage: dev-forge-distribution apply-delta --base <file> --delta <file> --out <file>

Rebuilds the full package from the version you have (--base) and a delta package, checks its
sha256 and writes it to --out (through a temporary file: on any error nothing is written there).
Exit codes: 0 done, 1 the delta or base was refused (the message says why), 2 bad usage.`;

/** The package's `bin`. Prints one line per outcome; the exit code tells scripts what happened. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (command !== 'apply-delta') {
    process.stderr.write(`${command ? `Unknown command "${command}". ` : ''}${USAGE}\n`);
    return 2;
  }
  let values: { base?: string; delta?: string; out?: string };
  try {
    ({ values } = parseArgs({ args: rest, options: { base: { type: 'string' }, delta: { type: 'string' }, out: { type: 'string' } }, strict: true }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const missing = (['base', 'delta', 'out'] as const).filter((name) => !values[name]);
  if (missing.length) {
    process.stderr.write(`Missing ${missing.map((name) => `--${name}`).join(', ')}\n${USAGE}\n`);
    return 2;
  }
  try {
    const { sha256, bytes } = await applyDeltaFile({ basePath: values.base!, deltaPath: values.delta!, outPath: values.out! });
    process.stdout.write(`wrote ${values.out} (${bytes} bytes, sha256 ${sha256})\n`);
    return 0;
  } catch (error) {
    if (error instanceof DeltaError) {
      process.stderr.write(`error ${error.code}: ${error.message}\n`);
      return 1;
    }
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') {
      process.stderr.write(`error ${code}: ${(error as Error).message}\n`);
      return 1;
    }
    throw error;
  }
}
