/**
 * Talks to the inference service. XMLHttpRequest instead of fetch because only
 * XHR reports upload progress, which the page shows while a photo travels.
 */
import { ApiError } from './errors';
import type { PredictResponse } from './types';

/** Same origin unless the build sets VITE_API_URL (e.g. https://api.example.org). */
export function apiBase(configured: string | undefined = import.meta.env.VITE_API_URL): string {
  return (configured ?? '').trim().replace(/\/+$/, '');
}

export interface PredictOptions {
  signal?: AbortSignal;
  /** Fraction of the upload sent so far, 0..1. */
  onUploadProgress?: (fraction: number) => void;
  /** Called once every byte is sent and the service is working on the photo. */
  onUploaded?: () => void;
  /** Age checks to ask for (?thresholds=18): each face then carries `age_checks`. */
  thresholds?: readonly number[];
  /** Ask for each face's calibrated age distribution (?distribution=true): live mode combines them. */
  distribution?: boolean;
}

/** `${base}/predict`, with ?thresholds= when age checks are asked for and ?distribution=true when asked. */
export function predictUrl(base: string, thresholds: readonly number[] = [], distribution = false): string {
  const query = [
    ...(thresholds.length ? [`thresholds=${thresholds.join(',')}`] : []),
    ...(distribution ? ['distribution=true'] : []),
  ];
  return query.length ? `${base}/predict?${query.join('&')}` : `${base}/predict`;
}

export type PredictFn = (file: Blob, filename: string, options?: PredictOptions) => Promise<PredictResponse>;

function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const seconds = Number.parseInt(value, 10);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : undefined;
}

function isPredictResponse(body: unknown): body is PredictResponse {
  if (typeof body !== 'object' || body === null) return false;
  const candidate = body as Partial<PredictResponse>;
  return (
    Array.isArray(candidate.faces) &&
    typeof candidate.image?.width === 'number' &&
    typeof candidate.image?.height === 'number' &&
    candidate.faces.every((face) => Array.isArray(face?.box) && face.box.length === 4 && typeof face.age === 'number')
  );
}

function detailOf(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { detail?: unknown };
    return typeof body.detail === 'string' ? body.detail : undefined;
  } catch {
    return undefined;
  }
}

/** POST /predict with the photo in the multipart field `file`. */
export function createPredict(base: string = apiBase()): PredictFn {
  return (file, filename, options = {}) =>
    new Promise<PredictResponse>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', predictUrl(base, options.thresholds, options.distribution));
      xhr.responseType = 'text';
      xhr.setRequestHeader('Accept', 'application/json');

      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable && event.total > 0) options.onUploadProgress?.(event.loaded / event.total);
      };
      xhr.upload.onload = () => options.onUploaded?.();
      xhr.onerror = () => reject(new ApiError('network', 0));
      xhr.ontimeout = () => reject(new ApiError('network', 0));
      xhr.onabort = () => reject(new ApiError('aborted', 0));
      xhr.onload = () => {
        const text = typeof xhr.response === 'string' ? xhr.response : '';
        if (xhr.status < 200 || xhr.status >= 300) {
          reject(
            new ApiError('http', xhr.status, {
              detail: detailOf(text),
              retryAfter: parseRetryAfter(xhr.getResponseHeader('Retry-After')),
              checksAsked: (options.thresholds ?? []).length > 0,
            }),
          );
          return;
        }
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          reject(new ApiError('invalid-response', xhr.status));
          return;
        }
        if (isPredictResponse(body)) resolve(body);
        else reject(new ApiError('invalid-response', xhr.status));
      };

      if (options.signal) {
        if (options.signal.aborted) {
          reject(new ApiError('aborted', 0));
          return;
        }
        options.signal.addEventListener('abort', () => xhr.abort(), { once: true });
      }

      const form = new FormData();
      form.append('file', file, filename);
      xhr.send(form);
    });
}
