import { AppError } from '../../errors/app-error.ts';

/**
 * How many uploads decode and re-encode at once. sharp runs each pipeline on Node's libuv
 * thread pool (4 threads by default), which scrypt (login, register) and file reads share:
 * with no bound, a few users uploading 40 MP images in a loop held every thread, and logins
 * waited seconds for one. One upload runs at a time (its two pipelines take two threads);
 * a few more wait, briefly; the rest are refused at once with 503 OVERLOADED and
 * Retry-After, as the admission guard refuses requests.
 */
export interface DecodeSlotLimits {
  readonly running: number;
  readonly waiting: number;
  readonly waitMs: number;
}

export const DECODE_SLOTS: DecodeSlotLimits = { running: 1, waiting: 8, waitMs: 10_000 };

interface Waiter { readonly start: () => void; readonly timer: NodeJS.Timeout }

export class DecodeSlots {
  #running = 0;
  readonly #queue: Waiter[] = [];

  constructor(private readonly limits: DecodeSlotLimits = DECODE_SLOTS) {}

  get running(): number { return this.#running; }
  get waiting(): number { return this.#queue.length; }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.#acquire();
    try {
      return await fn();
    } finally {
      this.#release();
    }
  }

  #acquire(): Promise<void> {
    if (this.#running < this.limits.running) {
      this.#running++;
      return Promise.resolve();
    }
    if (this.#queue.length >= this.limits.waiting) return Promise.reject(overloaded());
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        start: () => { clearTimeout(waiter.timer); this.#running++; resolve(); },
        timer: setTimeout(() => {
          const i = this.#queue.indexOf(waiter);
          if (i >= 0) this.#queue.splice(i, 1);
          reject(overloaded());
        }, this.limits.waitMs),
      };
      this.#queue.push(waiter);
    });
  }

  #release(): void {
    this.#running--;
    this.#queue.shift()?.start();
  }
}

function overloaded(): AppError {
  return new AppError('OVERLOADED', 'Too many images are being processed; retry shortly');
}
