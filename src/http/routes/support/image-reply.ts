import type { FastifyReply, FastifyRequest } from 'fastify';

/** An image's bytes as a route answers them. */
export interface ImageFile {
  readonly bytes: Buffer;
  readonly contentType: string;
  readonly etag: string;
}

/**
 * Sends an access-checked image with caching headers: an id's bytes never change, so a
 * browser may keep them for a year (privately: every fetch is checked against the viewer)
 * and revalidate with If-None-Match, which answers 304 without a body.
 */
export function sendImage(request: FastifyRequest, reply: FastifyReply, f: ImageFile): Buffer | undefined {
  reply.header('Cache-Control', 'private, max-age=31536000, immutable').header('ETag', f.etag);
  if (request.headers['if-none-match'] === f.etag) {
    reply.code(304);
    return undefined;
  }
  reply.type(f.contentType);
  return f.bytes;
}
