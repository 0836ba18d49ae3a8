#!/usr/bin/env node
/**
 * `npm run test:mutation [-- group…] [-- --force]`: runs StrykerJS once per module group of
 * tests/mutation/stryker.config.mjs (all groups, or those named) and prints the mutation score per module.
 * The score counts killed and timed-out mutants against all that ran (survivors and mutants no
 * test covers count against it). Exit status 1 when a group's run fails, not on a low score:
 * the score is a measurement, read it.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { GROUPS } = await import(path.join(root, 'tests/mutation/stryker.config.mjs'));
const args = process.argv.slice(2);
const flags = args.filter((arg) => arg.startsWith('--'));
const named = args.filter((arg) => !arg.startsWith('--'));
const unknown = named.filter((name) => !(name in GROUPS));
if (unknown.length > 0) {
  console.error(`unknown group(s) ${unknown.join(', ')}; groups: ${Object.keys(GROUPS).join(', ')}`);
  process.exit(2);
}
const stryker = path.join(root, 'node_modules/@stryker-mutator/core/bin/stryker.js');

let failed = false;
for (const group of named.length > 0 ? named : Object.keys(GROUPS)) {
  console.log(`\n=== mutation testing: ${group} (${GROUPS[group].mutate.join(', ')})`);
  const run = spawnSync(process.execPath, [stryker, 'run', 'tests/mutation/stryker.config.mjs', ...flags], { cwd: root, stdio: 'inherit', env: { ...process.env, STRYKER_GROUP: group } });
  if (run.status !== 0) failed = true;
}

/** Per-file counts from each group's JSON report (the last run of every group, named or not). */
const rows = [];
for (const group of Object.keys(GROUPS)) {
  const report = path.join(root, 'reports/mutation', group, 'mutation.json');
  if (!fs.existsSync(report)) continue;
  const { files } = JSON.parse(fs.readFileSync(report, 'utf8'));
  for (const [file, { mutants }] of Object.entries(files)) {
    const count = (...statuses) => mutants.filter((mutant) => statuses.includes(mutant.status)).length;
    const detected = count('Killed', 'Timeout');
    const undetected = count('Survived', 'NoCoverage');
    rows.push({ group, file, killed: count('Killed'), timeout: count('Timeout'), survived: count('Survived'), noCoverage: count('NoCoverage'), ignored: count('Ignored'), score: detected + undetected === 0 ? 100 : (100 * detected) / (detected + undetected) });
  }
}
console.log('\nmutation score per module (killed + timeout) / (killed + timeout + survived + no coverage)\n');
console.log(`${'module'.padEnd(48)} ${'score'.padStart(7)} ${'killed'.padStart(7)} ${'timeout'.padStart(8)} ${'survived'.padStart(9)} ${'no cov'.padStart(7)}`);
for (const row of rows) {
  console.log(`${row.file.padEnd(48)} ${`${row.score.toFixed(1)} %`.padStart(7)} ${String(row.killed).padStart(7)} ${String(row.timeout).padStart(8)} ${String(row.survived).padStart(9)} ${String(row.noCoverage).padStart(7)}`);
}
process.exit(failed ? 1 : 0);
