import type { Face, PredictResponse } from '../api/types';

export function face(box: Face['box'], age: number, interval: [number, number] | null = [age - 5, age + 5]): Face {
  const [x1, y1, x2, y2] = box;
  const mid = (a: number, b: number, t: number) => a + (b - a) * t;
  const landmarks: Face['landmarks'] = [
    [mid(x1, x2, 0.3), mid(y1, y2, 0.4)],
    [mid(x1, x2, 0.7), mid(y1, y2, 0.4)],
    [mid(x1, x2, 0.5), mid(y1, y2, 0.6)],
    [mid(x1, x2, 0.35), mid(y1, y2, 0.8)],
    [mid(x1, x2, 0.65), mid(y1, y2, 0.8)],
  ];
  return { box, score: 0.99, landmarks, age, age_interval: interval };
}

export function response(faces: Face[], width = 1000, height = 500): PredictResponse {
  return {
    faces,
    truncated: false,
    image: { width, height },
    model: { name: 'age-resnet50', version: '1.2.3' },
    device: 'cpu',
    timings_ms: { detect: 20, age: 30 },
  };
}

export function photo(name = 'group.jpg', type = 'image/jpeg'): File {
  return new File([new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3])], name, { type });
}
