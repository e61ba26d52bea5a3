/**
 * Shapes of the inference service's JSON answers, taken from the generated `schema.d.ts`
 * (openapi-typescript over the service's OpenAPI document; never edited by hand).
 */
import type { components } from './schema';

type Schemas = components['schemas'];

export type PredictResponse = Schemas['PredictResponse'];
export type Face = Schemas['Face'];
export type AgeCheck = Schemas['AgeCheck'];
/** x1, y1, x2, y2 in pixels of the uploaded (upright) image. */
export type Box = Face['box'];
