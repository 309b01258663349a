import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { S3ServiceException } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Storage } from '../../src/storage/s3-storage.ts';
import { StorageUnavailableError } from '../../src/storage/storage-errors.ts';

/**
 * How S3Storage reads a store's answers (src/storage/s3-storage.ts), against a plain HTTP
 * server on 127.0.0.1 that answers S3 error documents by key: a missing key is null;
 * 5xx and 429 are StorageUnavailableError (503 to clients); 403 stays the SDK's own error
 * (a misconfiguration, 500), not an outage to retry.
 */
const ANSWERS: Record<string, { status: number; code: string }> = {
  'ns/missing': { status: 404, code: 'NoSuchKey' },
  'ns/busy': { status: 503, code: 'SlowDown' },
  'ns/throttled': { status: 429, code: 'TooManyRequests' },
  'ns/denied': { status: 403, code: 'AccessDenied' },
};
const requests: string[] = [];
let server: http.Server;
let storage: S3Storage;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const key = decodeURIComponent((req.url ?? '').split('?')[0]?.replace(/^\/bucket\//, '') ?? '');
      requests.push(`${req.method} ${key}`);
      const a = ANSWERS[key];
      if (!a) { res.writeHead(200, { 'content-length': '2' }).end('ok'); return; }
      const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${a.code}</Code><Message>${a.code}</Message></Error>`;
      res.writeHead(a.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) }).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  storage = new S3Storage({
    bucket: 'bucket', prefix: 'ns/', region: 'us-east-1', endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true,
    credentials: { accessKeyId: 'k', secretAccessKey: 's' },
  });
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('S3Storage answers', () => {
  it('reads a stored key, and a missing one as null', async () => {
    expect((await storage.get('present'))?.toString()).toBe('ok');
    expect(await storage.get('missing')).toBeNull();
    await storage.put('present', Buffer.from('x'));
    expect(requests).toContain('PUT ns/present');
  });

  it('turns 5xx and 429 into StorageUnavailableError, retried once first', async () => {
    const before = requests.length;
    await expect(storage.put('busy', Buffer.from('x'))).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(requests.slice(before).filter((r) => r === 'PUT ns/busy').length).toBe(2);
    await expect(storage.get('throttled')).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
  });

  it('leaves a 403 as the SDK error it is', async () => {
    const err: unknown = await storage.delete('denied').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(S3ServiceException);
    expect(err).not.toBeInstanceOf(StorageUnavailableError);
  });
});
