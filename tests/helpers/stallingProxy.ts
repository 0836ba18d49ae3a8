import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface StallingProxy {
  /** `http://127.0.0.1:<port>`: point the client here instead of at the upstream. */
  url: string;
  /**
   * From now on, forwards `bytes` more request bytes (over all connections), then holds every
   * connection still; resolves at that moment.
   */
  stallAfter(bytes: number): Promise<void>;
  /** Forwards everything again (for the connections opened from now on). */
  disarm(): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy to `127.0.0.1:upstreamPort`. It makes "the store dies in the middle of an
 * upload" deterministic: the test arms `stallAfter(n)`, waits until n bytes of the upload went
 * through, kills the upstream, and the client's in-flight requests fail with it. Connections
 * whose upstream is gone (or cannot be reached) are closed on the client side too.
 */
export async function startStallingProxy(upstreamPort: number): Promise<StallingProxy> {
  let budget = Infinity;
  let onStall: (() => void) | undefined;
  const sockets = new Set<net.Socket>();

  const server = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    upstream.on('error', closeBoth).on('close', closeBoth);
    client.on('error', closeBoth).on('close', closeBoth);
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    client.on('data', (chunk: Buffer) => {
      if (budget <= 0) return;
      const part = chunk.length > budget ? chunk.subarray(0, budget) : chunk;
      budget -= part.length;
      upstream.write(part);
      if (budget <= 0 && onStall) {
        onStall();
        onStall = undefined;
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stallAfter(bytes) {
      budget = bytes;
      return new Promise<void>((resolve) => (onStall = resolve));
    },
    disarm() {
      budget = Infinity;
      onStall = undefined;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
