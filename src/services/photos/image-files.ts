import { AppError } from '../../errors/app-error.ts';
import type { Logger } from '../../logging/logger.ts';
import type { PhotoStorage } from '../../storage/photo-storage.ts';
import type { ImageType } from './image-processing.ts';
import { classifyDbError, DbUnavailableError, sqlState } from '../../db/errors.ts';

/**
 * The stored files of an image (a profile photo or a chat image): the image and its WebP
 * thumbnail under their owner, `<owner>/<id>` and `<owner>/<id>.thumb`, in one store.
 */
export const imageKey = (ownerId: string, id: string, thumb: boolean): string => `${ownerId}/${id}${thumb ? '.thumb' : ''}`;

/** What the API says of a stored image, a profile photo or a chat image. */
export interface StoredImage {
  readonly id: string;
  readonly content_type: ImageType;
  readonly bytes: number;
  readonly width: number;
  readonly height: number;
  readonly url: string;
  readonly thumb_url: string;
  readonly created_at: string;
}

/** An image's bytes as served: an id's image never changes, so the ETag changes only with the id. */
export interface ImageFile {
  readonly bytes: Buffer;
  readonly contentType: ImageType | 'image/webp';
  readonly etag: string;
}

/** Reads an image the caller has already access-checked; NOT_FOUND when its file is gone. */
export async function readImageFile(
  storage: PhotoStorage, image: { ownerId: string; id: string; contentType: ImageType; etagPrefix: string }, thumb: boolean, what: string,
): Promise<ImageFile> {
  const bytes = await storage.get(imageKey(image.ownerId, image.id, thumb));
  if (!bytes) throw new AppError('NOT_FOUND', `No such ${what}`);
  return { bytes, contentType: thumb ? 'image/webp' : image.contentType, etag: `"${image.etagPrefix}${image.id}${thumb ? '-t' : ''}"` };
}

/**
 * Removes an image's two files once its row is gone (committed): the delete has succeeded,
 * so a file the store will not delete now (S3 down) is only unreachable, and is logged
 * rather than failing the answer.
 */
export async function removeImageFiles(storage: PhotoStorage, logger: Logger | undefined, ownerId: string, id: string, what: string): Promise<void> {
  await Promise.all([false, true].map((thumb) => storage.delete(imageKey(ownerId, id, thumb)).catch((e: unknown) => {
    logger?.warn({ err: e instanceof Error ? e.message : String(e), key: imageKey(ownerId, id, thumb) }, `could not remove the file of a deleted ${what}`);
  })));
}

/**
 * PostgreSQL refused the statement itself (a SQLSTATE that is not about the connection):
 * nothing of it was written. Anything else (a lost connection, the client-side statement
 * bound) may come before or after a commit, so a row may exist or appear.
 */
export function refusedByServer(err: unknown): boolean {
  return !(err instanceof DbUnavailableError) && sqlState(err) !== undefined && classifyDbError(err) !== 'connection';
}
