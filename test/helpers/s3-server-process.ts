/**
 * s3rver in a process of its own (test/helpers/s3-server.ts starts it), run by Node with
 * --openssl-legacy-provider: s3rver encrypts its ListObjectsV2 continuation tokens with DES,
 * which Node 20's OpenSSL 3 refuses by default, so in the tests' own process every truncated
 * listing (more than 1,000 keys) answered 500. Prints `{"port":N}` once listening; stops on
 * SIGTERM. Arguments: the data folder, the bucket.
 */
import S3rver from 's3rver';

const [directory, bucket] = process.argv.slice(2);
if (!directory || !bucket) {
  console.error('usage: s3-server-process.ts <directory> <bucket>');
  process.exit(2);
}
const server = new S3rver({ port: 0, address: '127.0.0.1', directory, silent: true, configureBuckets: [{ name: bucket, configs: [] }] });
const { port } = await server.run();
process.stdout.write(`${JSON.stringify({ port })}\n`);
process.on('SIGTERM', () => {
  void server.close().finally(() => process.exit(0));
});
