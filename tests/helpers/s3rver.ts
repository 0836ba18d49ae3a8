import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The access key pair s3rver's built-in account accepts. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface S3Server {
  /** `http://127.0.0.1:<port>`: the S3 API endpoint (path-style). */
  endpoint: string;
  port: number;
  directory: string;
  /** Kills the server at once (SIGKILL), as a crashed or unplugged store would vanish. */
  kill(): Promise<void>;
  /** Starts it again on the same port over the same directory. */
  restart(): Promise<void>;
  /** Stops it and removes its directory. */
  close(): Promise<void>;
}

/**
 * Starts a real S3-speaking server (@20minutes/s3rver, in its own process) on 127.0.0.1 with a
 * random port and a fresh temp directory, `buckets` created at start-up so every request to
 * them must carry a valid SigV4 signature for S3RVER_CREDENTIALS.
 */
export async function startS3Server(buckets: string[]): Promise<S3Server> {
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), 's3rver-'));
  let child: ChildProcess | undefined;
  let port = 0;

  const launch = async () => {
    const process_ = spawn(process.execPath, [path.join(repoRoot, 'tests/helpers/s3rver-process.cjs'), JSON.stringify({ port, directory, buckets })], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = process_;
    let output = '';
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`s3rver did not start within 15 s:\n${output}`)), 15_000);
      process_.stdout!.on('data', (chunk: Buffer) => {
        output += chunk;
        const match = /\{"port":(\d+)\}/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      process_.stderr!.on('data', (chunk: Buffer) => (output += chunk));
      process_.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`s3rver exited with ${code} before listening:\n${output}`));
      });
    });
  };

  const kill = async () => {
    const current = child;
    child = undefined;
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      current.once('exit', () => resolve());
      current.kill('SIGKILL');
    });
  };

  await launch();
  return {
    get endpoint() {
      return `http://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    directory,
    kill,
    restart: launch,
    async close() {
      await kill();
      await fs.rm(directory, { recursive: true, force: true });
    },
  };
}
