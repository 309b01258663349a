import sharp from 'sharp';
import { AppError } from '../../errors/app-error.ts';
import { DecodeSlots } from './decode-slots.ts';

/** This process's decode slots (decode-slots.ts): one upload decodes at a time. */
const decodeSlots = new DecodeSlots();

/** Largest upload accepted (the route's body limit; larger bodies get 413 before any decoding). */
export const MAX_UPLOAD_BYTES = 8 * 1024 * 1024;
/**
 * Largest image by pixels. Checked from the header before decoding, so a small file that
 * claims a huge canvas (a decompression bomb) is refused without allocating it; libvips
 * enforces the same limit again while decoding.
 */
export const MAX_PIXELS = 40_000_000;
export const MAX_SIDE = 10_000;
/** Stored images are at most this many pixels on their longer side. */
const STORED_SIDE = 2048;
const THUMB_SIDE = 320;

export type ImageType = 'image/jpeg' | 'image/png' | 'image/webp';
const TYPES: Record<string, ImageType> = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };

export interface ProcessedImage {
  readonly contentType: ImageType;
  readonly image: Buffer;
  readonly width: number;
  readonly height: number;
  readonly thumb: Buffer;
}

/**
 * Checks and re-encodes an uploaded image. The type comes from the bytes (libvips reads
 * the header), never from the client's Content-Type. Re-encoding drops every metadata
 * block (EXIF with its GPS position, XMP, comments): sharp writes none unless asked to,
 * after `rotate()` has applied the EXIF orientation to the pixels. The whole file is
 * decoded with failOn 'truncated', so a cut-off upload is refused, not stored half grey.
 */
export async function processImage(bytes: Buffer): Promise<ProcessedImage> {
  const options = { limitInputPixels: MAX_PIXELS, failOn: 'truncated' as const };
  let meta: sharp.Metadata;
  try {
    // Header only: no pixel is decoded, so the limit is checked below with our own error.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'The body is not a JPEG, PNG or WebP image', undefined, { cause: err });
  }
  const contentType = meta.format ? TYPES[meta.format] : undefined;
  if (!contentType) throw new AppError('UNSUPPORTED_MEDIA_TYPE', `Only JPEG, PNG and WebP images are accepted (this is ${meta.format ?? 'unknown'})`);
  const { width, height } = meta;
  if (!width || !height) throw new AppError('VALIDATION_FAILED', 'The image has no dimensions');
  if (width > MAX_SIDE || height > MAX_SIDE || width * height > MAX_PIXELS) {
    throw new AppError('PAYLOAD_TOO_LARGE', `Images may be at most ${MAX_SIDE} pixels a side and ${MAX_PIXELS} pixels in all (this one is ${width}×${height})`);
  }
  // Refused with 503 OVERLOADED when too many uploads wait: not inside the try below, which
  // would call it corrupt data.
  return decodeSlots.run(async () => {
    try {
      const oriented = sharp(bytes, options).rotate();
      const resized = oriented.clone().resize({ width: STORED_SIDE, height: STORED_SIDE, fit: 'inside', withoutEnlargement: true });
      const encoded = contentType === 'image/jpeg' ? resized.jpeg({ quality: 85, mozjpeg: true })
        : contentType === 'image/png' ? resized.png({ compressionLevel: 9 })
          : resized.webp({ quality: 85 });
      const [image, thumb] = await Promise.all([
        encoded.toBuffer({ resolveWithObject: true }),
        oriented.clone().resize({ width: THUMB_SIDE, height: THUMB_SIDE, fit: 'cover' }).webp({ quality: 80 }).toBuffer(),
      ]);
      return { contentType, image: image.data, width: image.info.width, height: image.info.height, thumb };
    } catch (err) {
      // The header was fine (checked above); what fails now is the pixel data itself.
      throw new AppError('VALIDATION_FAILED', 'The image data is corrupt or truncated', undefined, { cause: err });
    }
  });
}
