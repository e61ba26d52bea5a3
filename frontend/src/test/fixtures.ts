import type { Face, PredictResponse } from '../api/types';

export function face(box: Face['box'], age: number, interval: [number, number] | null = [age - 5, age + 5]): Face {
  return { box, score: 0.99, age, age_interval: interval };
}

export function response(faces: Face[], width = 1000, height = 500): PredictResponse {
  return {
    faces,
    image: { width, height },
    model: { name: 'age-resnet50', version: '1.2.3' },
    device: 'cpu',
    timings_ms: { detect: 20, age: 30 },
  };
}

export function photo(name = 'group.jpg', type = 'image/jpeg'): File {
  return new File([new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3])], name, { type });
}
