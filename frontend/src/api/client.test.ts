/**
 * The client against a real HTTP server on loopback (jsdom's XMLHttpRequest
 * makes real requests), so multipart encoding, statuses and headers are real.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiBase, createPredict, predictUrl } from './client';
import { ApiError } from './errors';

let server: Server;
let base = '';
const received: { path: string; body: string; contentType: string }[] = [];

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}

const okBody = {
  faces: [{ box: [10, 20, 110, 140], score: 0.98, age: 33.6, age_interval: [28.1, 39.4] }],
  image: { width: 640, height: 480 },
  model: { name: 'age-resnet50', version: '0.1.0' },
  device: 'cpu',
  timings_ms: { detect: 12 },
};

beforeAll(async () => {
  server = createServer(async (request, response) => {
    response.setHeader('Access-Control-Allow-Origin', '*');
    response.setHeader('Access-Control-Allow-Headers', '*');
    response.setHeader('Access-Control-Expose-Headers', 'Retry-After');
    if (request.method === 'OPTIONS') {
      response.writeHead(204).end();
      return;
    }
    const body = await readBody(request);
    const path = request.url ?? '';
    received.push({ path, body, contentType: String(request.headers['content-type']) });
    const json = (status: number, payload: unknown, headers: Record<string, string> = {}) =>
      response.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(JSON.stringify(payload));
    if (path === '/ok/predict') json(200, okBody);
    else if (path === '/busy/predict') json(503, { detail: 'Model is loading' }, { 'Retry-After': '7' });
    else if (path === '/unsupported/predict') json(415, { detail: 'Not an image' });
    else if (path.startsWith('/no-checks/predict')) json(422, { detail: 'cannot answer' });
    else if (path === '/wrong-shape/predict') json(200, { faces: 'none' });
    else if (path === '/garbage/predict') response.writeHead(200).end('<html>not json</html>');
    else if (path === '/slow/predict') setTimeout(() => json(200, okBody), 5000);
    else json(404, { detail: 'Not Found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const jpeg = () => new Blob([new Uint8Array([0xff, 0xd8, 0xff, 0x42, 0x42])], { type: 'image/jpeg' });

async function failure(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => null,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

describe('createPredict', () => {
  it('posts the photo as multipart field "file" and returns the parsed answer', async () => {
    const result = await createPredict(`${base}/ok`)(jpeg(), 'me.jpg');
    expect(result.faces[0].age).toBeCloseTo(33.6);
    expect(result.model.version).toBe('0.1.0');
    const request = received.find((r) => r.path === '/ok/predict');
    expect(request?.contentType).toMatch(/^multipart\/form-data; boundary=/);
    expect(request?.body).toContain('name="file"; filename="me.jpg"');
    expect(request?.body).toContain('Content-Type: image/jpeg');
    expect(request?.body).toContain('\xff\xd8\xff\x42\x42');
  });

  it('carries the status, detail and Retry-After of a refusal', async () => {
    const busy = await failure(createPredict(`${base}/busy`)(jpeg(), 'a.jpg'));
    expect(busy).toMatchObject({ kind: 'http', status: 503, detail: 'Model is loading', retryAfter: 7 });
    const unsupported = await failure(createPredict(`${base}/unsupported`)(jpeg(), 'a.txt'));
    expect(unsupported).toMatchObject({ kind: 'http', status: 415, detail: 'Not an image' });
  });

  it('marks a refusal of a request that asked for age checks', async () => {
    const asked = await failure(createPredict(`${base}/no-checks`)(jpeg(), 'a.jpg', { thresholds: [18] }));
    expect(asked).toMatchObject({ status: 422, checksAsked: true });
    const plain = await failure(createPredict(`${base}/no-checks`)(jpeg(), 'a.jpg'));
    expect(plain).toMatchObject({ status: 422, checksAsked: false });
  });

  it('rejects answers that are not the expected JSON', async () => {
    expect(await failure(createPredict(`${base}/garbage`)(jpeg(), 'a.jpg'))).toMatchObject({
      kind: 'invalid-response',
    });
    expect(await failure(createPredict(`${base}/wrong-shape`)(jpeg(), 'a.jpg'))).toMatchObject({
      kind: 'invalid-response',
    });
  });

  it('reports a service that cannot be reached as a network failure', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = await failure(createPredict(`http://127.0.0.1:${port}`)(jpeg(), 'a.jpg'));
    expect(error).toMatchObject({ kind: 'network', status: 0 });
  });

  it('stops when aborted', async () => {
    const controller = new AbortController();
    const pending = createPredict(`${base}/slow`)(jpeg(), 'a.jpg', { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    expect(await failure(pending)).toMatchObject({ kind: 'aborted' });
  });
});

describe('apiBase', () => {
  it('is same-origin unless configured, without a trailing slash', () => {
    expect(apiBase(undefined)).toBe('');
    expect(apiBase('')).toBe('');
    expect(apiBase(' https://api.example.org/ ')).toBe('https://api.example.org');
  });
});

describe('predictUrl', () => {
  it('adds the age checks and the distribution only when asked', () => {
    expect(predictUrl('')).toBe('/predict');
    expect(predictUrl('', [18])).toBe('/predict?thresholds=18');
    expect(predictUrl('https://a.example', [], true)).toBe('https://a.example/predict?distribution=true');
    expect(predictUrl('', [13, 18], true)).toBe('/predict?thresholds=13,18&distribution=true');
  });
});
