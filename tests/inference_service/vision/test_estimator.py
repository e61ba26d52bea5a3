"""The age estimator: which faces need full-resolution pixels, one inference path for every crop layout."""

from __future__ import annotations

import numpy as np

from inference_service.vision.estimator import AgeEstimator


def test_small_faces_are_cropped_from_full_resolution(fast: AgeEstimator) -> None:
    # A face whose crop would be upsampled from the reduced copy: eyes 10 px apart.
    small_face = np.array([[100, 100], [110, 100], [105, 106], [101, 112], [109, 112]], np.float32)
    assert fast.needs_more_pixels(small_face)
    assert not fast.needs_more_pixels(small_face * 20)


def test_one_inference_path_for_aligned_and_prepared_layouts(plain: AgeEstimator) -> None:
    """evaluate --source (aligned NumPy crops) and evaluate --prepared (a prepared set's tensor) both call
    predict_crops; the same pixels in either layout give the same ages and intervals."""
    import torch

    size = plain.model_config.input_size
    crops = np.random.default_rng(0).integers(0, 256, (6, size, size, 3), dtype=np.uint8)
    aligned = plain.predict_crops(crops)
    prepared = plain.predict_crops(torch.from_numpy(crops).permute(0, 3, 1, 2).contiguous())
    assert np.array_equal(aligned.age, prepared.age) and np.array_equal(aligned.interval, prepared.interval)
