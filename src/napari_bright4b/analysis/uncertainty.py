"""Where a segmentation model is unsure: the normalized entropy of its class probabilities."""

from __future__ import annotations

import numpy as np


def normalized_entropy(probabilities: np.ndarray) -> np.ndarray:
    """``-sum_k p_k log p_k / log K`` of ``probabilities (K, ...)`` (summing to 1 over axis 0),
    float32 in [0, 1]: 0 where one class is certain, 1 where all ``K`` are equally likely."""
    p = np.clip(np.asarray(probabilities, dtype=np.float32), 0.0, 1.0)
    classes = p.shape[0]
    if classes < 2:
        raise ValueError(f"entropy needs at least two classes, got {classes}")
    entropy = -np.sum(p * np.log(np.maximum(p, np.float32(1e-12))), axis=0)
    return np.clip(entropy / np.float32(np.log(classes)), 0.0, 1.0).astype(np.float32, copy=False)
