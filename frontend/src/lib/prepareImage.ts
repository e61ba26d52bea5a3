/**
 * Shrinks a photo in the browser before upload: less to send, faster answers,
 * and the service sees the photo upright (EXIF orientation applied here).
 */
import imageCompression from 'browser-image-compression';

/** Longest side of the uploaded photo, in pixels. */
export const MAX_SIDE = 1600;
export const JPEG_QUALITY = 0.88;

export interface PreparedUpload {
  /** What is sent and shown: the shrunk JPEG, or the original when it could not be shrunk. */
  file: Blob;
  filename: string;
  originalBytes: number;
  uploadedBytes: number;
  /** False when the browser could not read the file as an image; the service then judges it. */
  compressed: boolean;
}

export type PrepareFn = (file: File) => Promise<PreparedUpload>;

function jpegName(name: string): string {
  const stem = name.replace(/\.[^.]*$/, '') || 'photo';
  return `${stem}.jpg`;
}

/**
 * Files the browser cannot decode (text, broken images) are passed through
 * unchanged so the service answers with its precise 415 or 400.
 */
export const prepareImage: PrepareFn = async (file) => {
  const original = { filename: file.name || 'photo', originalBytes: file.size };
  if (!file.type.startsWith('image/')) {
    return { ...original, file, uploadedBytes: file.size, compressed: false };
  }
  try {
    const shrunk = await imageCompression(file, {
      maxWidthOrHeight: MAX_SIDE,
      fileType: 'image/jpeg',
      initialQuality: JPEG_QUALITY,
      // The library's worker would fetch its own code from a CDN: stay on the page.
      useWebWorker: false,
    });
    return {
      ...original,
      file: shrunk,
      filename: shrunk.type === 'image/jpeg' ? jpegName(original.filename) : original.filename,
      uploadedBytes: shrunk.size,
      compressed: true,
    };
  } catch {
    return { ...original, file, uploadedBytes: file.size, compressed: false };
  }
};
