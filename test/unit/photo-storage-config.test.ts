import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/index.ts';

/** BGC_PHOTO_STORAGE_URL (src/config/photo-storage.ts): the local default, file: and s3: URLs, and refusals that never echo the secret. */
describe('BGC_PHOTO_STORAGE_URL', () => {
  it('defaults to the data directory', () => {
    const c = parseConfig({ NODE_ENV: 'test', BGC_DATA_DIR: '/tmp/bgc-data' });
    expect(c.photoStorage).toEqual({ kind: 'local', dir: path.resolve('/tmp/bgc-data') });
  });

  it('reads a file: URL as a local directory', () => {
    expect(parseConfig({ NODE_ENV: 'test', BGC_PHOTO_STORAGE_URL: 'file:///srv/bgc-media' }).photoStorage).toEqual({ kind: 'local', dir: '/srv/bgc-media' });
  });

  it('reads an s3: URL: bucket, prefix, endpoint, region, path style and percent-encoded credentials', () => {
    const c = parseConfig({ NODE_ENV: 'test', BGC_PHOTO_STORAGE_URL: 's3://AKID%2Fx:se%2Bcret@bgc-media/prod/eu/?endpoint=http://127.0.0.1:9000&region=eu-west-1' });
    expect(c.photoStorage).toEqual({
      kind: 's3', bucket: 'bgc-media', prefix: 'prod/eu/', region: 'eu-west-1', endpoint: 'http://127.0.0.1:9000', forcePathStyle: true,
      credentials: { accessKeyId: 'AKID/x', secretAccessKey: 'se+cret' },
    });
    // AWS itself: no endpoint, virtual-hosted style, the SDK's credential chain.
    expect(parseConfig({ NODE_ENV: 'test', BGC_PHOTO_STORAGE_URL: 's3://bgc-media' }).photoStorage).toEqual({
      kind: 's3', bucket: 'bgc-media', prefix: '', region: 'us-east-1', endpoint: undefined, forcePathStyle: false, credentials: undefined,
    });
    expect(parseConfig({ NODE_ENV: 'test', BGC_PHOTO_STORAGE_URL: 's3://bgc-media?endpoint=https://s3.example.test&path_style=false' }).photoStorage)
      .toMatchObject({ endpoint: 'https://s3.example.test', forcePathStyle: false });
  });

  it('refuses bad URLs, naming the variable and never the secret', () => {
    const bad = ['ftp://x', 'not a url', 's3://Bad_Bucket', 's3://b-1?endpoint=ftp://x', 's3://b-1?region=EU%20WEST', 's3://b-1?path_style=yes',
      's3://b-1?unknown=1', 's3://onlykey@b-1', 'file://host/dir'];
    for (const url of bad) {
      expect(() => parseConfig({ NODE_ENV: 'test', BGC_PHOTO_STORAGE_URL: url }), url).toThrow(ConfigError);
    }
    try {
      parseConfig({ NODE_ENV: 'test', BGC_PHOTO_STORAGE_URL: 's3://KEY:TOPSECRET@Bad_Bucket' });
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).problems.join(' ')).toContain('BGC_PHOTO_STORAGE_URL');
      expect((err as ConfigError).message).not.toContain('TOPSECRET');
    }
  });
});
