/** Turns every way an upload can fail into one plain sentence a person can act on. */

export type FailureKind = 'http' | 'network' | 'aborted' | 'invalid-response';

export class ApiError extends Error {
  readonly kind: FailureKind;
  /** HTTP status, 0 when no answer arrived. */
  readonly status: number;
  /** The service's own `detail` text, kept for logs and tooltips, never shown alone. */
  readonly detail?: string;
  /** Seconds from a Retry-After header, when the service sent one. */
  readonly retryAfter?: number;
  /** Whether the request asked for age checks: the page always sends a photo, so a 422 then
   *  means the model cannot answer them (no need to read the detail's wording). */
  readonly checksAsked: boolean;

  constructor(
    kind: FailureKind,
    status: number,
    options: { detail?: string; retryAfter?: number; checksAsked?: boolean } = {},
  ) {
    super(options.detail ?? `${kind} ${status}`);
    this.name = 'ApiError';
    this.kind = kind;
    this.status = status;
    this.detail = options.detail;
    this.retryAfter = options.retryAfter;
    this.checksAsked = options.checksAsked ?? false;
  }
}

export const MESSAGES = {
  tooLarge: 'This photo is too large for the service. Please choose a smaller photo.',
  notAnImage:
    'This file is not an image the service can read. Please choose a JPEG, PNG, WebP or GIF photo.',
  broken: 'This image file seems to be damaged and could not be read. Please try another photo.',
  missing: 'The upload did not contain a photo. Please choose one and try again.',
  unauthorized: 'The service refused the request because it needs an access key.',
  tooSlow: 'The upload took too long to arrive. Check your connection and try again.',
  notReady: 'The service is starting up or busy right now. Please try again in a few seconds.',
  network: 'The service could not be reached. Check your connection and try again.',
  invalid: 'The service sent an answer this page does not understand. Please try again later.',
  aborted: 'The upload was cancelled.',
  noChecks: 'The model this service runs cannot answer age checks. Switch the age check off to see ages.',
} as const;

/** The sentence shown to a person for a failed request. */
export function errorSentence(error: unknown): string {
  if (!(error instanceof ApiError)) return MESSAGES.network;
  switch (error.kind) {
    case 'network':
      return MESSAGES.network;
    case 'aborted':
      return MESSAGES.aborted;
    case 'invalid-response':
      return MESSAGES.invalid;
    case 'http':
      break;
  }
  switch (error.status) {
    case 400:
      return MESSAGES.broken;
    case 401:
    case 403:
      return MESSAGES.unauthorized;
    case 408:
      return MESSAGES.tooSlow;
    case 413:
      return MESSAGES.tooLarge;
    case 415:
      return MESSAGES.notAnImage;
    case 422:
      return error.checksAsked ? MESSAGES.noChecks : MESSAGES.missing;
    case 503:
      return error.retryAfter && error.retryAfter > 0
        ? `The service is starting up or busy right now. Please try again in ${error.retryAfter} ${
            error.retryAfter === 1 ? 'second' : 'seconds'
          }.`
        : MESSAGES.notReady;
    default:
      return `Something went wrong on the service (error ${error.status}). Please try again.`;
  }
}
