"""Five-point face alignment: the one crop function used by training and serving.

A face is mapped by a similarity transform (rotation, uniform scale, shift) that
puts its five landmarks as close as possible, in least squares, to a template.
The template is stored in normalised coordinates (fractions of the crop side), so
one template serves any output size. Where the crop reaches past the photo the
border is padded with a constant colour, never stretched.
"""

from __future__ import annotations

import cv2
import numpy as np

# Mean RetinaFace landmarks on 1,498 UTKFace 200x200 "aligned & cropped" chips,
# divided by 200 and made left-right symmetric (so a flipped crop is still aligned).
# Re-measure with `python -m training template`.
# Order: the person's right eye (left in the image), left eye, nose tip, right and left mouth
# corners, as RetinaFace reports them.
UTKFACE_TEMPLATE: tuple[tuple[float, float], ...] = (
    (0.3034, 0.2912),
    (0.6966, 0.2912),
    (0.5000, 0.5216),
    (0.3244, 0.6780),
    (0.6756, 0.6780),
)

PAD_VALUE = (0, 0, 0)


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """2x3 least-squares similarity matrix mapping `source` points onto `target`.

    Closed form of Umeyama (1991) without reflection.
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    src_mean, dst_mean = source.mean(axis=0), target.mean(axis=0)
    src, dst = source - src_mean, target - dst_mean
    covariance = dst.T @ src / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rotation = u @ np.diag(sign) @ vt
    variance = (src**2).sum() / len(source)
    scale = float((singular * sign).sum() / variance) if variance > 0 else 1.0
    shift = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, shift[:, None]])


def crop_scale(landmarks: np.ndarray, template: np.ndarray | tuple | list, size: int) -> float:
    """Crop pixels per image pixel that `align_face` would use: above 1 means upsampling."""
    target = np.asarray(template, dtype=np.float64) * size
    matrix = similarity_transform(np.asarray(landmarks, dtype=np.float64), target)
    return float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))


def align_face(
    image: np.ndarray,
    landmarks: np.ndarray,
    template: np.ndarray | tuple | list = UTKFACE_TEMPLATE,
    size: int = 224,
) -> np.ndarray:
    """Crop one face out of an RGB image as a `size` x `size` aligned chip."""
    target = np.asarray(template, dtype=np.float64) * size
    matrix = similarity_transform(np.asarray(landmarks, dtype=np.float64), target)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))

    # A face much larger than the chip: shrink the region around it with area
    # averaging first, so the warp does not alias (a phone selfie vs a 200 px chip).
    if scale < 0.5:
        inverse = cv2.invertAffineTransform(matrix)
        corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], float)
        mapped = corners @ inverse.T
        x0, y0 = np.floor(mapped.min(axis=0)).astype(int) - 2
        x1, y1 = np.ceil(mapped.max(axis=0)).astype(int) + 2
        height, width = image.shape[:2]
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, width), min(y1, height)
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            region = image[y0:y1, x0:x1]
            new_w = max(1, round((x1 - x0) * scale * 2))
            new_h = max(1, round((y1 - y0) * scale * 2))
            region = cv2.resize(region, (new_w, new_h), interpolation=cv2.INTER_AREA)
            fx, fy = new_w / (x1 - x0), new_h / (y1 - y0)
            # region pixel = (image pixel - offset) * f  =>  fold into the matrix
            to_region = np.array([[fx, 0, -x0 * fx], [0, fy, -y0 * fy], [0, 0, 1]])
            matrix = matrix @ np.linalg.inv(to_region)
            image = region

    return cv2.warpAffine(
        image,
        matrix,
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=PAD_VALUE,
    )


def resize_crops(crops: np.ndarray, size: int) -> np.ndarray:
    """Aligned N x S x S x 3 crops at another side, by area averaging: how training reads the prepared
    crops at a network's input size, and how an ensemble's members read one alignment."""
    if crops.shape[1] == size:
        return crops
    resized = [cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA) for crop in crops]
    return np.stack(resized) if resized else np.zeros((0, size, size, 3), dtype=crops.dtype)
