/**
 * The photo store cannot be reached or refuses work for now (S3 down, timing out, 5xx,
 * throttling). Carries a catalogue code, so the HTTP layer answers 503 with Retry-After.
 */
export class StorageUnavailableError extends Error {
  readonly code = 'STORAGE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageUnavailableError';
  }
}
