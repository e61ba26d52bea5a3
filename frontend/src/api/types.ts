/** Shapes of the inference service's JSON answers (see inference_service/api). */

export type Box = [number, number, number, number];

export interface Face {
  /** x1, y1, x2, y2 in pixels of the uploaded (upright) image. */
  box: Box;
  score: number;
  landmarks?: [number, number][];
  age: number;
  /** Plausible range for the age, [low, high] in years. */
  age_interval?: [number, number] | null;
  /** One entry per threshold asked for with ?thresholds=, in threshold order. */
  age_checks?: AgeCheck[] | null;
}

export interface AgeCheck {
  threshold: number;
  /** Calibrated probability that the true age is at least `threshold`. */
  p_over: number;
  verdict: 'over' | 'under' | 'uncertain';
}

export interface PredictResponse {
  faces: Face[];
  truncated?: boolean;
  image: { width: number; height: number };
  model: { name: string; version: string };
  device?: string;
  timings_ms?: Record<string, number>;
}
