import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { mintToken } from '../../src/auth/tokens.js';

/**
 * `npm run bench:upload`: uploads a 1 GiB file through the uploadCdnFile mutation to a freshly
 * spawned server (compiled, local provider, embedded database unless DATABASE_URL is set) and
 * prints the server's peak RSS and the upload's throughput beside `sha256sum` of the same file
 * timed in the same run. BENCH_UPLOAD_BYTES overrides the size.
 */

const execFileAsync = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SIZE = Number(process.env.BENCH_UPLOAD_BYTES ?? 1024 ** 3);
const MIB = 1024 * 1024;

/** VmHWM (peak resident set) and VmRSS of a process, in bytes, from /proc. */
function memoryOf(pid: number): { peak: number; current: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { peak: field('VmHWM'), current: field('VmRSS') };
}

const mib = (bytes: number) => `${(bytes / MIB).toFixed(1)} MiB`;
const rate = (bytes: number, ms: number) => `${(bytes / MIB / (ms / 1000)).toFixed(0)} MiB/s`;

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dfd-bench-'));
  const uploadDir = path.join(dataDir, 'uploads');
  fs.mkdirSync(uploadDir, { recursive: true });
  const secret = crypto.randomBytes(32).toString('hex');
  const file = path.join(uploadDir, 'bench-1gib.bin');

  process.stdout.write(`writing ${mib(SIZE)} of random bytes to ${file}\n`);
  const handle = fs.openSync(file, 'w');
  const chunk = Buffer.allocUnsafe(16 * MIB);
  for (let written = 0; written < SIZE; written += chunk.length) {
    const length = Math.min(chunk.length, SIZE - written);
    crypto.randomFillSync(chunk, 0, length);
    fs.writeSync(handle, chunk, 0, length);
  }
  fs.closeSync(handle);

  const child = spawn(process.execPath, [path.join(root, 'dist/src/index.js')], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      JWT_SECRET: secret,
      LOG_LEVEL: 'info',
      MAX_FILE_SIZE: String(Math.max(SIZE, 2 * 1024 ** 3)),
      ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (data: Buffer) => (output += data));
  child.stderr!.on('data', (data: Buffer) => (output += data));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 60_000);
      child.stdout!.on('data', () => {
        const match = /listening on (http:\/\/[^/\s]+)\/graphql/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      child.once('exit', (code) => reject(new Error(`server exited with ${code}:\n${output}`)));
    });
    const pid = child.pid!;

    // sha256sum first: it also brings the file into the page cache for both measurements.
    const sumStarted = performance.now();
    const { stdout } = await execFileAsync('sha256sum', [file]);
    const sumMs = performance.now() - sumStarted;
    const expected = stdout.split(/\s+/)[0]!;

    const token = await mintToken({ secret, role: 'admin' });
    const before = memoryOf(pid);
    let sampledPeak = before.current;
    const sampler = setInterval(() => {
      try {
        sampledPeak = Math.max(sampledPeak, memoryOf(pid).current);
      } catch {
        // the process is gone; the final read reports it
      }
    }, 50);
    const uploadStarted = performance.now();
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: 'mutation Bench($input: UploadCdnFileInput!) { uploadCdnFile(input: $input) { id fileSize checksum mimeType distributionStatus } }',
        variables: { input: { filePath: path.basename(file) } },
      }),
    });
    const body = (await response.json()) as { data?: { uploadCdnFile: { checksum: string; fileSize: number } }; errors?: unknown };
    const uploadMs = performance.now() - uploadStarted;
    clearInterval(sampler);
    const after = memoryOf(pid);
    if (!body.data) throw new Error(`upload failed: ${JSON.stringify(body.errors)}`);
    const uploaded = body.data.uploadCdnFile;

    const lines = [
      '',
      `upload benchmark: ${mib(SIZE)} through uploadCdnFile, local provider, ${process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'}, ${os.cpus().length} cores, Node ${process.version}`,
      `  sha256sum            ${(sumMs / 1000).toFixed(2)} s   ${rate(SIZE, sumMs)}`,
      `  uploadCdnFile        ${(uploadMs / 1000).toFixed(2)} s   ${rate(SIZE, uploadMs)}   (hash + MIME pass, then copy + verify + fsync into the store)`,
      `  ratio                upload throughput = ${(sumMs / uploadMs).toFixed(2)} × sha256sum throughput`,
      `  server RSS           before ${mib(before.current)}, peak during upload ${mib(sampledPeak)} (sampled every 50 ms), VmHWM since start ${mib(after.peak)}`,
      `  checksum             ${uploaded.checksum === expected ? 'matches sha256sum' : `MISMATCH: server ${uploaded.checksum}, sha256sum ${expected}`}`,
      `  progress log lines   ${output.split('\n').filter((line) => line.includes('"percent"')).length} (e.g. ${output.split('\n').find((line) => line.includes('"percent"') && line.includes('"phase":"store"')) ?? 'none'})`,
      '',
    ];
    process.stdout.write(lines.join('\n'));
    if (uploaded.checksum !== expected || uploaded.fileSize !== SIZE) process.exitCode = 1;
  } finally {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
