import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException, type ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
import type { PhotoStorageConfig } from '../config/photo-storage.ts';
import type { PhotoStorage, StoredKey } from './photo-storage.ts';
import { StorageUnavailableError } from './storage-errors.ts';

/**
 * The bucket, key prefix ('' or ending in '/': one bucket can serve several namespaces),
 * region, endpoint (an S3-compatible server's URL; unset: AWS S3), path-style URLs (what most
 * self-hosted servers need) and credentials (unset: the SDK's default chain), as config parsed them.
 */
export type S3StorageSettings = Omit<Extract<PhotoStorageConfig, { kind: 's3' }>, 'kind'>;

/** What the app stores: `<owner>/<id>[.thumb]`, both UUIDs (as local-fs-storage.ts checks). */
const KEY = /^[0-9a-f-]{36}\/[0-9a-f-]{36}(\.thumb)?$/;

/** A photo is small; a request that takes longer than this is a store in trouble. */
const REQUEST_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 2_000;

/**
 * Photos in an S3-compatible object store, for a fleet (every instance sees the same
 * bytes). One object per key; a PUT is atomic in S3, so a reader never sees half an
 * object. Checksums are only computed where the API requires them: the SDK's newer
 * default (a CRC on every PUT) is refused by several S3-compatible servers.
 *
 * Errors: a missing key is `null`; the store unreachable, timing out or answering 5xx
 * or 429 is StorageUnavailableError (503 with Retry-After to the client); anything else
 * (access denied, no such bucket: a misconfiguration) is rethrown as is (500).
 */
export class S3Storage implements PhotoStorage {
  readonly #client: S3Client;

  constructor(private readonly s: S3StorageSettings) {
    this.#client = new S3Client({
      region: s.region,
      ...(s.endpoint ? { endpoint: s.endpoint } : {}),
      forcePathStyle: s.forcePathStyle,
      // A copy: the SDK marks the object it is given, and config is frozen.
      ...(s.credentials ? { credentials: { accessKeyId: s.credentials.accessKeyId, secretAccessKey: s.credentials.secretAccessKey } } : {}),
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 2,
      requestHandler: { requestTimeout: REQUEST_TIMEOUT_MS, connectionTimeout: CONNECT_TIMEOUT_MS },
    });
  }

  async put(key: string, bytes: Buffer): Promise<void> {
    await this.#send(() => this.#client.send(new PutObjectCommand({
      Bucket: this.s.bucket, Key: this.#key(key), Body: bytes, ContentLength: bytes.length, ContentType: 'application/octet-stream',
    })));
  }

  async get(key: string): Promise<Buffer | null> {
    try {
      const res = await this.#client.send(new GetObjectCommand({ Bucket: this.s.bucket, Key: this.#key(key) }));
      if (!res.Body) return null;
      return Buffer.from(await res.Body.transformToByteArray());
    } catch (err) {
      if (err instanceof S3ServiceException && (err.name === 'NoSuchKey' || err.$metadata.httpStatusCode === 404)) return null;
      throw unavailable(err);
    }
  }

  /** S3 answers 204 whether or not the key existed. */
  async delete(key: string): Promise<void> {
    await this.#send(() => this.#client.send(new DeleteObjectCommand({ Bucket: this.s.bucket, Key: this.#key(key) })));
  }

  /** Every object under this namespace's prefix, a page (up to 1,000) at a time. */
  async *list(): AsyncIterable<StoredKey> {
    let token: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.#client.send(new ListObjectsV2Command({ Bucket: this.s.bucket, Prefix: this.s.prefix, ContinuationToken: token }));
      } catch (err) {
        throw unavailable(err);
      }
      for (const o of page.Contents ?? []) {
        const key = o.Key?.startsWith(this.s.prefix) ? o.Key.slice(this.s.prefix.length) : undefined;
        // Only keys this store writes (a console's folder marker, a stray object: not ours).
        if (key !== undefined && KEY.test(key) && o.LastModified) yield { key, modifiedAt: o.LastModified };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  #key(key: string): string {
    return `${this.s.prefix}${key}`;
  }

  async #send(fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      throw unavailable(err);
    }
  }
}

/** Socket-level failures: the store is not there (or not answering) right now. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const TIMEOUT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'AbortError']);

/**
 * The store answering 5xx or 429, or not answering at all (refused, reset, timed out):
 * unavailable. Any other answer (403, 404 bucket, 400) and any other error stand as they
 * are: a misconfiguration or a bug is not an outage to retry.
 */
function unavailable(err: unknown): unknown {
  if (err instanceof S3ServiceException) {
    const status = err.$metadata.httpStatusCode;
    return status === undefined || status >= 500 || status === 429 ? new StorageUnavailableError('The photo store is unavailable', { cause: err }) : err;
  }
  const e = err as { code?: unknown; name?: unknown };
  if ((typeof e.code === 'string' && NETWORK_CODES.has(e.code)) || (typeof e.name === 'string' && TIMEOUT_NAMES.has(e.name))) {
    return new StorageUnavailableError('The photo store is unavailable', { cause: err });
  }
  return err;
}
