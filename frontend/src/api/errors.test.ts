import { describe, expect, it } from 'vitest';
import { ApiError, errorSentence, MESSAGES } from './errors';

describe('errorSentence', () => {
  it.each([
    [400, MESSAGES.broken],
    [401, MESSAGES.unauthorized],
    [408, MESSAGES.tooSlow],
    [413, MESSAGES.tooLarge],
    [415, MESSAGES.notAnImage],
    [422, MESSAGES.missing],
    [503, MESSAGES.notReady],
  ])('status %d gets its own sentence', (status, sentence) => {
    expect(errorSentence(new ApiError('http', status, { detail: 'raw detail' }))).toBe(sentence);
  });

  it('each status has a different sentence', () => {
    const sentences = [400, 401, 408, 413, 415, 422, 503].map((s) => errorSentence(new ApiError('http', s)));
    expect(new Set(sentences).size).toBe(sentences.length);
  });

  it('tells a 422 to a request with age checks apart from a missing photo, whatever the wording', () => {
    const detail = 'any wording at all';
    expect(errorSentence(new ApiError('http', 422, { detail, checksAsked: true }))).toBe(MESSAGES.noChecks);
    expect(errorSentence(new ApiError('http', 422, { detail }))).toBe(MESSAGES.missing);
  });

  it('uses Retry-After when the service is busy', () => {
    expect(errorSentence(new ApiError('http', 503, { retryAfter: 5 }))).toMatch(/in 5 seconds/);
    expect(errorSentence(new ApiError('http', 503, { retryAfter: 1 }))).toMatch(/in 1 second\./);
  });

  it('names unknown statuses and network failures plainly', () => {
    expect(errorSentence(new ApiError('http', 500))).toMatch(/error 500/);
    expect(errorSentence(new ApiError('network', 0))).toBe(MESSAGES.network);
    expect(errorSentence(new TypeError('Failed to fetch'))).toBe(MESSAGES.network);
    expect(errorSentence(new ApiError('invalid-response', 200))).toBe(MESSAGES.invalid);
  });
});
