import type { Database, QueryContext } from '../../db/database.ts';
import type { Logger } from '../../logging/logger.ts';
import { AppError } from '../../errors/app-error.ts';
import type { PhotoRepository, PhotoRow } from '../../repositories/photos.repository.ts';
import { MAX_UUID } from '../../repositories/sql-fragments.ts';
import type { PhotoStorage } from '../../storage/photo-storage.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { runIdempotent, type IdempotencyKey } from '../idempotency.ts';
import { newId } from '../ids.ts';
import type { ProfileService } from '../profiles/profile.service.ts';
import { noteWrite, pageSize, type Page, type Written } from '../support.ts';
import { imageKey, readImageFile, refusedByServer, removeImageFiles, type ImageFile, type StoredImage } from './image-files.ts';
import { processImage } from './image-processing.ts';

export type Photo = StoredImage & { readonly owner_id: string };

export type PhotoFile = ImageFile;

interface PhotoDeps {
  readonly db: Database;
  readonly logger: Logger | undefined;
  readonly photos: PhotoRepository;
  readonly storage: PhotoStorage;
  readonly profiles: ProfileService;
}

const keyOf = imageKey;

/**
 * A gallery of photos per profile. Who may see a photo is who may see its owner's profile
 * (ProfileService.get: blocks, privacy level, moderation), checked on every list and
 * every file. Uploads are processed (image-processing.ts) before anything is stored; the
 * files are written before the row. If the row fails, it is deleted (it may have committed
 * before the connection broke) and then the files, so a refused or failed upload leaves
 * neither; if even that delete fails, the files stay with whatever row may exist.
 */
export class PhotoService {
  constructor(private readonly d: PhotoDeps) {}

  /**
   * With `key` the row's insert and the key's record commit in one transaction: a retry
   * stores its files, meets the record, removes its files again and answers the first photo.
   */
  async upload(ownerId: string, body: unknown, key?: IdempotencyKey): Promise<Written<Photo>> {
    if (!Buffer.isBuffer(body) || body.length === 0) {
      throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the image itself as the body, with Content-Type image/jpeg, image/png or image/webp');
    }
    const img = await processImage(body);
    const id = newId();
    const keys = [keyOf(ownerId, id, false), keyOf(ownerId, id, true)] as const;
    let photo: Photo;
    let replayed: boolean;
    try {
      await this.d.storage.put(keys[0], img.image);
      await this.d.storage.put(keys[1], img.thumb);
    } catch (err) {
      await this.#removeFiles(keys);
      throw err;
    }
    try {
      ({ value: photo, replayed } = await runIdempotent(this.d.db, key, async (q) => toPhoto(await this.d.photos.insert({
        id, owner_id: ownerId, content_type: img.contentType, bytes: img.image.length, width: img.width, height: img.height, thumb_bytes: img.thumb.length,
      }, q))));
    } catch (err) {
      // A lost connection (a failover, the client-side statement bound) may come after the
      // row committed, or before an insert still running on the server commits: removing
      // the files then left a gallery entry that answered 404 for good. So the files go only
      // when PostgreSQL refused the insert itself (or the key refused the request: its
      // transaction rolled back), or when the row was found and deleted.
      if (refusedByServer(err) || (err instanceof AppError && err.status < 500)) {
        await this.#removeFiles(keys);
        throw err;
      }
      // With a key, a commit whose answer was lost may have recorded the key with the row:
      // removing the row then would let the client's retry replay a photo that is gone. Both
      // stay; the retry replays them, or runs again (and the orphan sweep takes these files).
      if (key) throw err;
      const removed = await this.d.photos.remove(id, ownerId).then((row) => row !== undefined, (e: unknown) => {
        this.d.logger?.warn({ err: e instanceof Error ? e.message : String(e), photoId: id }, 'failed upload: could not remove its row');
        return false;
      });
      if (removed) await this.#removeFiles(keys);
      else this.d.logger?.warn({ photoId: id }, 'failed upload: its insert may still commit; files kept');
      throw err;
    }
    // A replay: this attempt's row was rolled back with the key's conflict; its files go. A
    // photo deleted since is not answered as if it were there (as for chat images).
    if (replayed) {
      await this.#removeFiles(keys);
      if ((await this.d.photos.existingIds([photo.id])).size === 0) throw new AppError('NOT_FOUND', 'The photo first uploaded with this Idempotency-Key has since been deleted');
    }
    const lsn = await noteWrite(this.d.db, this.d.logger, ownerId);
    return { value: photo, lsn, replayed };
  }

  async #removeFiles(keys: readonly string[]): Promise<void> {
    await Promise.all(keys.map((k) => this.d.storage.delete(k).catch((e: unknown) => {
      this.d.logger?.warn({ err: e instanceof Error ? e.message : String(e), key: k }, 'could not remove the file of a failed upload');
    })));
  }

  async gallery(viewerId: string, ownerId: string, cursor: string | undefined, limit: number | undefined, ctx: QueryContext): Promise<Page<Photo>> {
    const n = pageSize(limit);
    const c = decodeCursor('photos', cursor);
    if (c && c.o !== ownerId) throw new AppError('INVALID_CURSOR', 'This cursor belongs to another gallery');
    await this.d.profiles.get(viewerId, ownerId, ctx);
    const rows = await this.d.photos.gallery(ownerId, c ? { ts: c.ts, id: c.id } : { ts: 'infinity', id: MAX_UUID }, n + 1, ctx);
    const items = rows.slice(0, n).map(toPhoto);
    const last = items[items.length - 1];
    return { items, next_cursor: rows.length > n && last ? encodeCursor('photos', { o: ownerId, ts: last.created_at, id: last.id }) : null };
  }

  async file(viewerId: string, id: string, thumb: boolean, ctx: QueryContext): Promise<PhotoFile> {
    const row = await this.d.photos.get(id, ctx);
    if (!row) throw new AppError('NOT_FOUND', 'No such photo');
    await this.d.profiles.get(viewerId, row.owner_id, ctx);
    return readImageFile(this.d.storage, { ownerId: row.owner_id, id: row.id, contentType: row.content_type, etagPrefix: '' }, thumb, 'photo');
  }

  async remove(ownerId: string, id: string): Promise<Written<{ readonly id: string; readonly deleted: boolean }>> {
    const row = await this.d.photos.remove(id, ownerId);
    if (!row) throw new AppError('NOT_FOUND', 'No such photo of yours');
    await removeImageFiles(this.d.storage, this.d.logger, ownerId, id, 'photo');
    const lsn = await noteWrite(this.d.db, this.d.logger, ownerId);
    return { value: { id, deleted: true }, lsn };
  }
}

function toPhoto(r: PhotoRow): Photo {
  return {
    id: r.id, owner_id: r.owner_id, content_type: r.content_type, bytes: r.bytes, width: r.width, height: r.height,
    url: `/api/photos/${r.id}`, thumb_url: `/api/photos/${r.id}/thumb`, created_at: r.created_at,
  };
}
