import path from 'node:path';
import type { PhotoStorageConfig } from '../config/index.ts';
import { LocalFsStorage } from './local-fs-storage.ts';
import type { PhotoStorage } from './photo-storage.ts';
import { S3Storage } from './s3-storage.ts';

/** What is stored: each namespace is its own directory (local) or key prefix (S3). */
export type StorageNamespace = 'photos' | 'chat-images';

/**
 * The store BGC_PHOTO_STORAGE_URL names (src/config): the local filesystem under the data
 * directory by default, or an S3-compatible bucket. Both namespaces share the store.
 */
export function createStorage(config: PhotoStorageConfig, namespace: StorageNamespace): PhotoStorage {
  if (config.kind === 'local') return new LocalFsStorage(path.join(config.dir, namespace));
  return new S3Storage({ ...config, prefix: `${config.prefix}${namespace}/` });
}
