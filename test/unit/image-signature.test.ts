import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors/app-error.ts';
import { processImage } from '../../src/services/photos/image-processing.ts';

/**
 * An upload's type is checked from its first bytes before libvips reads anything: libvips'
 * "header" read of an SVG parses the whole XML document (librsvg) outside the decode slots.
 */
describe('image uploads by signature', () => {
  it('refuses SVG, GIF and TIFF before libvips reads them (before: libvips identified them first)', async () => {
    const svg = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="4000">${'<g>'.repeat(1000)}${'</g>'.repeat(1000)}</svg>`);
    const gif = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#0f0' } }).gif().toBuffer();
    const tiff = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#00f' } }).tiff().toBuffer();
    for (const [name, bytes] of [['svg', svg], ['gif', gif], ['tiff', tiff]] as const) {
      const err = await processImage(bytes).then(() => undefined, (e: unknown) => e);
      expect(err, name).toBeInstanceOf(AppError);
      expect((err as AppError).code, name).toBe('UNSUPPORTED_MEDIA_TYPE');
      // The refusal names no format: it came from the signature, not from libvips' reading.
      expect((err as AppError).message, name).toBe('The body is not a JPEG, PNG or WebP image');
    }
  });

  it('still takes JPEG, PNG and WebP', async () => {
    const base = () => sharp({ create: { width: 40, height: 30, channels: 3, background: '#abcdef' } });
    for (const [bytes, type] of [[await base().jpeg().toBuffer(), 'image/jpeg'], [await base().png().toBuffer(), 'image/png'], [await base().webp().toBuffer(), 'image/webp']] as const) {
      const out = await processImage(bytes);
      expect(out.contentType).toBe(type);
      expect([out.width, out.height]).toEqual([40, 30]);
    }
  });
});
