import type { ChatImageRepository } from '../repositories/chat-images.repository.ts';
import type { JobSpec } from './scheduler.ts';

export const UNLINKED_CHAT_IMAGES_JOB_NAME = 'chat_images.unlinked';

/**
 * An image is judged only once it is this old: its upload request, the message that names it
 * and the link between them are over in seconds (requestTimeout 30 s, the send's bounded wait).
 */
export const UNLINKED_MIN_AGE_S = 60 * 60;
/** Images per statement: each is one index probe on messages, a batch a few ms of locks. */
const BATCH = 500;

export interface UnlinkedChatImagesDeps {
  readonly images: ChatImageRepository;
  /** Default hourly. */
  readonly intervalMs?: number;
  /** Overrides UNLINKED_MIN_AGE_S (tests). */
  readonly minAgeSeconds?: number;
}

/**
 * Settles chat images whose announcing message was never linked to them (migration 0031),
 * leader-only: linked when the message exists (it was written but its answer was lost, or the
 * link failed), deleted when it does not (the message was never written); the deleted rows'
 * files go with images.orphan_files an hour later. Before it, such an image stayed for good,
 * a row and two files reachable by id whose message hiding could not hide. Only images up to a
 * week old are judged: an older one's message may be in an archived month, which no lookup
 * here sees, and deleting the image would break that message once the month is restored.
 */
export function unlinkedChatImagesJob(deps: UnlinkedChatImagesDeps): JobSpec {
  return {
    name: UNLINKED_CHAT_IMAGES_JOB_NAME,
    intervalMs: deps.intervalMs ?? 60 * 60_000,
    leaderOnly: true,
    run: async ({ signal, logger }) => {
      const done = await settleUnlinkedChatImages(deps.images, deps.minAgeSeconds ?? UNLINKED_MIN_AGE_S, signal);
      if (done.linked + done.deleted > 0) logger.info({ job: UNLINKED_CHAT_IMAGES_JOB_NAME, ...done }, 'unlinked chat images settled');
    },
  };
}

/** Batch after batch until one comes back short (or the scheduler aborts); returns the totals. */
export async function settleUnlinkedChatImages(images: ChatImageRepository, minAgeSeconds: number, signal?: AbortSignal, batch = BATCH): Promise<{ linked: number; deleted: number }> {
  const total = { linked: 0, deleted: 0 };
  for (;;) {
    if (signal?.aborted) return total;
    const r = await images.resolveUnlinked(minAgeSeconds, batch);
    total.linked += r.linked;
    total.deleted += r.deleted;
    if (r.examined < batch) return total;
  }
}
