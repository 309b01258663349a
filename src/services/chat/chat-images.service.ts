import type { Database, QueryContext } from '../../db/database.ts';
import type { Logger } from '../../logging/logger.ts';
import { AppError } from '../../errors/app-error.ts';
import type { ChatImageRepository, ChatImageRow } from '../../repositories/chat-images.repository.ts';
import type { PhotoStorage } from '../../storage/photo-storage.ts';
import { newId } from '../ids.ts';
import { imageKey, readImageFile, refusedByServer, removeImageFiles, type ImageFile, type StoredImage } from '../photos/image-files.ts';
import { processImage, type ProcessedImage } from '../photos/image-processing.ts';
import { answerFromRecord, type IdempotencyKey } from '../idempotency.ts';
import { IdempotencyRepository } from '../../repositories/idempotency.repository.ts';
import { noteWrite, type Written } from '../support.ts';
import type { ConversationService, DirectMessage } from './conversations.service.ts';
import type { RoomMessage, RoomService } from './rooms.service.ts';

export type ChatImage = StoredImage & { readonly conversation_id: string | null; readonly room_id: string | null; readonly uploader_id: string };

export interface SentImage<M> {
  readonly image: ChatImage;
  /** The message that announces the image (its content ends with the image's URL). */
  readonly message: M;
}

export type ChatImageFile = ImageFile;

interface ChatImageDeps {
  readonly db: Database;
  readonly logger: Logger | undefined;
  readonly images: ChatImageRepository;
  /** The photo store's chat-images namespace (src/storage/create-storage.ts). */
  readonly storage: PhotoStorage;
  readonly conversations: ConversationService;
  readonly rooms: RoomService;
}

type Container = { readonly conversation_id: string; readonly room_id: null } | { readonly conversation_id: null; readonly room_id: string };

const keyOf = imageKey;
export const chatImageUrl = (id: string) => `/api/chat/images/${id}`;

/**
 * Images sent in a conversation or a room. The checks and the image work of profile
 * photos apply (type from the bytes, size and pixel limits, metadata stripped, a
 * thumbnail: services/photos/image-processing.ts). Order of an upload: may the uploader
 * post here (nothing stored yet) → process → store both files → the row → the message,
 * sent through the chat service's own send (its checks, its real-time push) → link the
 * message to the image. Any failure before the message exists removes the row and the
 * files again, so a refused upload leaves nothing behind.
 *
 * Who may see an image: its conversation's two members, or, for a room, anyone signed in
 * without a block either way with the uploader; nobody once a moderator hid its message
 * or suspended its uploader (chat_image.get decides in SQL). Anything else is 404.
 */
export class ChatImageService {
  readonly #keys: IdempotencyRepository;

  constructor(private readonly d: ChatImageDeps) {
    this.#keys = new IdempotencyRepository(d.db);
  }

  async sendToConversation(conversationId: string, uploaderId: string, body: unknown, caption: string | undefined, key?: IdempotencyKey): Promise<Written<SentImage<DirectMessage>>> {
    const bytes = imageBody(body);
    checkCaption(caption);
    const target = await this.d.images.conversationTarget(conversationId, uploaderId);
    const refusal = !target.container_exists ? new AppError('NOT_FOUND', 'No such conversation')
      : !target.is_member ? new AppError('FORBIDDEN', 'You are not a member of this conversation')
        : target.blocked ? new AppError('BLOCKED') : undefined;
    if (refusal) return this.#refusedUnlessKeyed<DirectMessage>(uploaderId, refusal, key);
    const img = await processImage(bytes);
    return this.#send(uploaderId, img, { conversation_id: conversationId, room_id: null },
      (content) => this.d.conversations.send(conversationId, uploaderId, content, key), caption);
  }

  async sendToRoom(roomId: string, uploaderId: string, body: unknown, caption: string | undefined, key?: IdempotencyKey): Promise<Written<SentImage<RoomMessage>>> {
    const bytes = imageBody(body);
    checkCaption(caption);
    if (!(await this.d.images.roomActive(roomId))) return this.#refusedUnlessKeyed<RoomMessage>(uploaderId, new AppError('NOT_FOUND', 'No such room'), key);
    const img = await processImage(bytes);
    return this.#send(uploaderId, img, { conversation_id: null, room_id: roomId },
      (content) => this.d.rooms.send(roomId, uploaderId, content, key), caption);
  }

  async file(viewerId: string, id: string, thumb: boolean, ctx: QueryContext): Promise<ChatImageFile> {
    const row = await this.d.images.get(id, viewerId, ctx);
    if (!row || !row.may_see || !row.uploader_active || row.message_hidden) throw new AppError('NOT_FOUND', 'No such image');
    return readImageFile(this.d.storage, { ownerId: row.uploader_id, id: row.id, contentType: row.content_type, etagPrefix: 'ci-' }, thumb, 'image');
  }

  /** The uploader removes an image: the row at once, the files after commit (a failure there only leaves an unreachable file, logged). */
  async remove(uploaderId: string, id: string): Promise<Written<{ readonly id: string; readonly deleted: boolean }>> {
    const row = await this.d.images.remove(id, uploaderId);
    if (!row) throw new AppError('NOT_FOUND', 'No such image of yours');
    const lsn = await noteWrite(this.d.db, this.d.logger, uploaderId);
    await this.#removeFiles(uploaderId, id);
    return { value: { id, deleted: true }, lsn };
  }

  /**
   * With an Idempotency-Key the announcing message is sent under it (its fingerprint is the
   * upload's: route, container, caption, sha256 of the bytes), so the key's record commits with
   * the first attempt's message. A retry stores its own image, meets that record, gets the
   * first message back, removes what it stored, and answers the first upload again: never a
   * second image or message, even when the first attempt's answer was lost after its commit.
   */
  async #send<M extends { readonly id: string; readonly created_at: string; readonly content: string }>(
    uploaderId: string, img: ProcessedImage, container: Container, announce: (content: string) => Promise<Written<M>>, caption: string | undefined,
  ): Promise<Written<SentImage<M>>> {
    const id = newId();
    let row: ChatImageRow;
    let message: M;
    let replayed: boolean | undefined;
    try {
      await this.d.storage.put(keyOf(uploaderId, id, false), img.image);
      await this.d.storage.put(keyOf(uploaderId, id, true), img.thumb);
    } catch (err) {
      await this.#removeFiles(uploaderId, id);
      throw err;
    }
    try {
      row = await this.d.images.insert({
        id, ...container, uploader_id: uploaderId, content_type: img.contentType,
        bytes: img.image.length, width: img.width, height: img.height, thumb_bytes: img.thumb.length,
      });
    } catch (err) {
      await this.#undo(uploaderId, id, refusedByServer(err));
      throw err;
    }
    try {
      ({ value: message, replayed } = await announce(messageContent(caption, id)));
    } catch (err) {
      // Only a refusal proves the message was not written: a 4xx, or SEND_UNTIMELY (the
      // statement stored nothing outside the send window). A lost connection during its
      // group's commit, or a failure after the commit, may leave a committed message that
      // names this image: removing the image then broke that message. Kept, at worst unused.
      if (err instanceof AppError && (err.status < 500 || err.code === 'SEND_UNTIMELY')) await this.#undo(uploaderId, id, false);
      else this.d.logger?.warn({ err: err instanceof Error ? err.message : String(err), imageId: id }, 'chat image kept: its message may have been written');
      throw err;
    }
    if (replayed === true) return this.#replay(uploaderId, id, message);
    try {
      await this.d.images.linkMessage(id, message.id, message.created_at);
    } catch (err) {
      // The image and its message stand; only hiding the message would not hide the image.
      this.d.logger?.warn({ err: err instanceof Error ? err.message : String(err), imageId: id, messageId: message.id }, 'could not link a chat image to its message');
    }
    const lsn = await noteWrite(this.d.db, this.d.logger, uploaderId);
    return { value: { image: toChatImage(row), message }, lsn };
  }

  /**
   * A refusal of the checks made before anything is stored. With a key, the key's record
   * answers first: a retry of an upload that committed (its answer lost) and was then
   * refused (a block or a closed room since) gets the first upload again, not a final 4xx
   * that tells the client its image was never sent (src/services/idempotency.ts). Without
   * a record, the refusal; with a record of another request, 422.
   */
  async #refusedUnlessKeyed<M extends { readonly content: string }>(uploaderId: string, refusal: AppError, key: IdempotencyKey | undefined): Promise<Written<SentImage<M>>> {
    if (!key) throw refusal;
    const { value: message } = await answerFromRecord<M>(this.#keys, key, refusal);
    return this.#answerFirst(uploaderId, message);
  }

  /** A keyed retry whose first attempt committed: this attempt's image goes, the first one is answered. */
  async #replay<M extends { readonly content: string }>(uploaderId: string, id: string, message: M): Promise<Written<SentImage<M>>> {
    await this.#undo(uploaderId, id, false);
    return this.#answerFirst(uploaderId, message);
  }

  /** The first upload under a key, from its message (which names the image). */
  async #answerFirst<M extends { readonly content: string }>(uploaderId: string, message: M): Promise<Written<SentImage<M>>> {
    const firstId = imageIdOf(message.content);
    const first = firstId === undefined ? undefined : await this.d.images.own(firstId, uploaderId);
    if (!first) throw new AppError('NOT_FOUND', 'The image first sent with this Idempotency-Key has since been deleted');
    const lsn = await noteWrite(this.d.db, this.d.logger, uploaderId);
    return { value: { image: toChatImage(first), message }, lsn, replayed: true };
  }

  /**
   * A failed upload: the row (if written) goes, and the files only when the row was found and
   * deleted or `neverWritten` (PostgreSQL refused the insert): an insert cut off on the client
   * may still commit, and its row must not be left without files.
   */
  async #undo(uploaderId: string, id: string, neverWritten: boolean): Promise<void> {
    const removed = await this.d.images.remove(id, uploaderId).then((row) => row !== undefined, (e: unknown) => {
      this.d.logger?.warn({ err: e instanceof Error ? e.message : String(e), imageId: id }, 'could not remove the row of a failed chat image upload');
      return false;
    });
    if (removed || neverWritten) await this.#removeFiles(uploaderId, id);
    else this.d.logger?.warn({ imageId: id }, 'failed chat image upload: its row may still commit; files kept');
  }

  async #removeFiles(uploaderId: string, id: string): Promise<void> {
    await removeImageFiles(this.d.storage, this.d.logger, uploaderId, id, 'chat image');
  }
}

function imageBody(body: unknown): Buffer {
  if (!Buffer.isBuffer(body) || body.length === 0) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the image itself as the body, with Content-Type image/jpeg, image/png or image/webp');
  }
  return body;
}

/**
 * The caption becomes the announcing message's text, which is checked only after the image is
 * stored: refuse what that check would refuse (U+0000, see requireText) before anything is
 * written, so a refused upload never writes and removes an image row.
 */
function checkCaption(caption: string | undefined): void {
  if (caption?.includes('\u0000')) throw new AppError('VALIDATION_FAILED', 'caption must not contain the character U+0000');
}

/** The announcing message: the caption (if any), then the image's URL on a line of its own. */
function messageContent(caption: string | undefined, id: string): string {
  const text = caption?.trim();
  return text ? `${text}\n${chatImageUrl(id)}` : chatImageUrl(id);
}

const IMAGE_URL_LINE = /\/api\/chat\/images\/([0-9a-f-]{36})$/;

/** The image an announcing message names (its last line, messageContent). */
function imageIdOf(content: string): string | undefined {
  return IMAGE_URL_LINE.exec(content)?.[1];
}

function toChatImage(r: ChatImageRow): ChatImage {
  return {
    id: r.id, conversation_id: r.conversation_id, room_id: r.room_id, uploader_id: r.uploader_id, content_type: r.content_type,
    bytes: r.bytes, width: r.width, height: r.height, url: chatImageUrl(r.id), thumb_url: `${chatImageUrl(r.id)}/thumb`, created_at: r.created_at,
  };
}
