import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { applyDelta, generateDelta } from '../../src/delta/index.js';

/**
 * `npm run bench:delta`: for each pair of consecutive releases in tests/bench/delta-corpus/
 * (npm .tgz files, the same contents as .vsix-like zips from three producers, one ELF shared
 * object), this project's delta beside the whole-file tools in the same run — xdelta3, bsdiff
 * and `zstd --patch-from` (missing tools are named, not fatal) — with generation and apply time
 * and the generator's peak RSS (each pair generated in a child process of its own, so the peak
 * is that pair's). Checks the issue's targets at the end.
 */

const execFileAsync = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const corpus = path.join(root, 'tests/bench/delta-corpus');

interface Pair {
  name: string;
  kind: 'archive' | 'raw';
  base: string;
  target: string;
}

const PAIRS: Pair[] = [
  { name: 'lodash 4.17.20→21 .tgz (npm pack)', kind: 'archive', base: 'lodash-4.17.20.tgz', target: 'lodash-4.17.21.tgz' },
  { name: 'semver 7.6.0→7.6.2 .tgz (npm pack)', kind: 'archive', base: 'semver-7.6.0.tgz', target: 'semver-7.6.2.tgz' },
  { name: 'commander 12.0.0→12.1.0 .tgz', kind: 'archive', base: 'commander-12.0.0.tgz', target: 'commander-12.1.0.tgz' },
  { name: 'lodash .vsix (CPython zipfile)', kind: 'archive', base: 'lodash-4.17.20.vsix', target: 'lodash-4.17.21.vsix' },
  { name: 'commander .vsix (Node zlib)', kind: 'archive', base: 'commander-12.0.0.vsix', target: 'commander-12.1.0.vsix' },
  { name: 'semver .zip (Info-ZIP zip -9)', kind: 'archive', base: 'semver-7.6.0.zip', target: 'semver-7.6.2.zip' },
  { name: '@parcel/watcher 2.5.0→2.5.1 ELF .node', kind: 'raw', base: 'parcel-watcher-2.5.0.node', target: 'parcel-watcher-2.5.1.node' },
];

interface OurResult {
  size: number;
  format: string;
  generateMs: number;
  applyMs: number;
  peakRssBytes: number;
  entries?: { copied: number; rebuilt: number; shipped: number };
}

/** Child mode: generate and apply one pair, print the result as JSON (peak RSS is this process's). */
async function measurePair(base: string, target: string): Promise<void> {
  const [baseBytes, targetBytes] = [fs.readFileSync(base), fs.readFileSync(target)];
  const started = performance.now();
  const generated = await generateDelta(baseBytes, targetBytes);
  const generateMs = performance.now() - started;
  const applyStarted = performance.now();
  const rebuilt = applyDelta(baseBytes, generated.delta);
  const applyMs = performance.now() - applyStarted;
  if (!rebuilt.equals(targetBytes)) throw new Error('the rebuilt target differs');
  const result: OurResult = { size: generated.delta.length, format: generated.formatName, generateMs, applyMs, peakRssBytes: process.resourceUsage().maxRSS * 1024, entries: generated.entries };
  process.stdout.write(JSON.stringify(result));
}

const TOOLS: { name: string; binary: string; run: (base: string, target: string, out: string) => [string, string[]] }[] = [
  { name: 'xdelta3', binary: 'xdelta3', run: (base, target, out) => ['xdelta3', ['-e', '-9', '-D', '-f', '-s', base, target, out]] },
  { name: 'bsdiff', binary: 'bsdiff', run: (base, target, out) => ['bsdiff', [base, target, out]] },
  { name: 'zstd', binary: 'zstd', run: (base, target, out) => ['zstd', ['-q', '-f', '-19', '--long=27', `--patch-from=${base}`, target, '-o', out]] },
];

function available(binary: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const pct = (part: number, whole: number) => `${((100 * part) / whole).toFixed(1)} %`;
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

async function main(): Promise<void> {
  if (process.argv[2] === '--pair') return measurePair(process.argv[3]!, process.argv[4]!);
  const tools = TOOLS.filter((tool) => available(tool.binary));
  const missing = TOOLS.filter((tool) => !tools.includes(tool)).map((tool) => tool.name);
  if (missing.length) process.stdout.write(`missing whole-file tools (install the Debian packages to compare): ${missing.join(', ')}\n`);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'dfd-bench-delta-'));
  process.stdout.write(`node ${process.version}, ${os.cpus().length} cores; corpus ${corpus}\n\n`);
  const header = ['pair', 'target', 'ours', 'ours %', 'format', ...tools.map((tool) => `${tool.name} %`), 'generate', 'apply', 'peak RSS'];
  const rows: string[][] = [];
  const verdicts: string[] = [];
  for (const pair of PAIRS) {
    const base = path.join(corpus, pair.base);
    const target = path.join(corpus, pair.target);
    const targetSize = fs.statSync(target).size;
    const { stdout } = await execFileAsync(process.execPath, [fileURLToPath(import.meta.url), '--pair', base, target], { maxBuffer: 1 << 20 });
    const ours = JSON.parse(stdout) as OurResult;
    const whole: Record<string, number> = {};
    for (const tool of tools) {
      const out = path.join(scratch, `${pair.target}.${tool.name}`);
      const [command, args] = tool.run(base, target, out);
      await execFileAsync(command, args);
      whole[tool.name] = fs.statSync(out).size;
    }
    const format = ours.entries ? `${ours.format} (${ours.entries.copied}/${ours.entries.rebuilt}/${ours.entries.shipped})` : ours.format;
    rows.push([
      pair.name,
      kb(targetSize),
      kb(ours.size),
      pct(ours.size, targetSize),
      format,
      ...tools.map((tool) => pct(whole[tool.name]!, targetSize)),
      `${ours.generateMs.toFixed(0)} ms`,
      `${ours.applyMs.toFixed(0)} ms`,
      `${(ours.peakRssBytes / 1024 / 1024).toFixed(0)} MiB`,
    ]);
    const sizes = Object.values(whole);
    if (sizes.length === 0) continue;
    const best = Math.min(...sizes);
    if (pair.kind === 'archive') {
      const wholeShare = best / targetSize;
      const ourShare = ours.size / targetSize;
      if (wholeShare >= 0.85) verdicts.push(`${pair.name}: ours ${pct(ours.size, targetSize)} (target ≤ 15 %, whole-file best ${pct(best, targetSize)}) ${ourShare <= 0.15 ? 'MET' : 'NOT MET'}`);
      else verdicts.push(`${pair.name}: whole-file tools already reach ${pct(best, targetSize)} (< 85 %: the archive target does not apply); ours ${pct(ours.size, targetSize)}, ${(ours.size / best).toFixed(2)}× the best`);
    } else {
      verdicts.push(`${pair.name}: ours ${(ours.size / best).toFixed(2)}× the best whole-file tool (target ≤ 1.1×) ${ours.size <= best * 1.1 ? 'MET' : 'NOT MET'}`);
    }
  }
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ')} |`;
  process.stdout.write(`${line(header)}\n|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|\n${rows.map(line).join('\n')}\n\n`);
  process.stdout.write('zip format column: entries copied from the base / rebuilt from content / shipped as compressed bytes\n');
  process.stdout.write(`targets:\n${verdicts.map((verdict) => `- ${verdict}`).join('\n')}\n`);
  fs.rmSync(scratch, { recursive: true, force: true });
}

await main();
