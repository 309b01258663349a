/**
 * Where photo bytes live. The app talks to this interface only; the embedded default is
 * the local filesystem (local-fs-storage.ts). A fleet needs storage every instance sees:
 * an S3-compatible bucket (s3-storage.ts). BGC_PHOTO_STORAGE_URL picks one (create-storage.ts).
 * Keys are relative paths of the form `<owner id>/<photo id>[.thumb]`.
 */
export interface PhotoStorage {
  /** Stores the bytes under the key, replacing nothing: a key is written once. */
  put(key: string, bytes: Buffer): Promise<void>;
  /** The bytes, or null when there is no such key. */
  get(key: string): Promise<Buffer | null>;
  /** Removes the key; a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Every stored key with when it was last written, in no set order (the orphan sweep, src/jobs). */
  list(): AsyncIterable<StoredKey>;
  /**
   * Removes what interrupted writes left (not keys: a local store's `.tmp-*` files of a process
   * killed between write and rename) last written before `before`; how many. A store whose
   * writes leave nothing (S3's PUT is all or nothing) has none.
   */
  sweepLeftovers?(before: Date): Promise<number>;
}

export interface StoredKey {
  readonly key: string;
  readonly modifiedAt: Date;
}
