import net from 'node:net';

/**
 * `http://127.0.0.1:<port>` of a port nothing listens on: one the kernel just gave this process
 * and that was closed again. No fixed port is assumed closed (something may listen on any of
 * them); a port freed a moment ago is only reused by the kernel after it cycles through the rest.
 */
export async function closedPortUrl(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
