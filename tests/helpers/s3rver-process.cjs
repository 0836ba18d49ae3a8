// Runs @20minutes/s3rver as its own process so tests can kill it mid-request (SIGKILL) and
// start it again over the same directory. Arguments: a JSON object
// { port, directory, buckets: string[] }. Prints one line `{"port": N}` once listening.
'use strict';
const S3rver = require('@20minutes/s3rver');

const { port, directory, buckets } = JSON.parse(process.argv[2]);
const server = new S3rver({
  address: '127.0.0.1',
  port,
  directory,
  silent: true,
  // Buckets created at start-up are the ones whose requests get their signatures verified.
  configureBuckets: buckets.map((name) => ({ name })),
});
server.run().then(
  (address) => process.stdout.write(JSON.stringify({ port: address.port }) + '\n'),
  (error) => {
    process.stderr.write(String(error && error.stack ? error.stack : error) + '\n');
    process.exit(1);
  },
);
process.on('SIGTERM', () => server.close().finally(() => process.exit(0)));
