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
  // Before libvips sees it: its header read runs outside the decode slots, and for SVG (a whole
  // XML document through librsvg), GIF or TIFF it is no header read at all.
  if (!acceptedSignature(bytes)) throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'The body is not a JPEG, PNG or WebP image');
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
      // A bound on one decode, so one slow file cannot hold the slot (and every upload behind it).
      const oriented = sharp(bytes, options).rotate().timeout({ seconds: DECODE_TIMEOUT_S });
      const resized = oriented.clone().resize({ width: STORED_SIDE, height: STORED_SIDE, fit: 'inside', withoutEnlargement: true });
      const encoded = contentType === 'image/jpeg' ? resized.jpeg({ quality: 85, mozjpeg: true })
        : contentType === 'image/png' ? resized.png({ compressionLevel: 9 })
          : resized.webp({ quality: 85 });
      // Both settle before the slot is given back: Promise.all rejected at the first failure and
      // let the next upload decode beside the other pipeline, still running.
      const [image, thumb] = await Promise.allSettled([
        encoded.toBuffer({ resolveWithObject: true }),
        oriented.clone().resize({ width: THUMB_SIDE, height: THUMB_SIDE, fit: 'cover' }).webp({ quality: 80 }).toBuffer(),
      ]);
      if (image.status === 'rejected') throw image.reason;
      if (thumb.status === 'rejected') throw thumb.reason;
      return { contentType, image: image.value.data, width: image.value.info.width, height: image.value.info.height, thumb: thumb.value };
    } catch (err) {
      // The header was fine (checked above); what fails now is the pixel data itself.
      throw new AppError('VALIDATION_FAILED', 'The image data is corrupt or truncated', undefined, { cause: err });
    }
  });
}

/** Seconds one decode may take: a 40-megapixel JPEG of one colour took 0.2 s on the 2026-12-07 machine; real photos take longer, on a busy machine longer still. */
const DECODE_TIMEOUT_S = 15;

/** The file signatures of the accepted formats: JPEG (FF D8 FF), PNG, and WebP (RIFF….WEBP). */
function acceptedSignature(b: Buffer): boolean {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return true;
  if (b.length >= 8 && b.subarray(0, 8).equals(PNG_SIGNATURE)) return true;
  return b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP';
}
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
