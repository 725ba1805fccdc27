"""Token features projected to their first three principal components, as RGB colours.

The projection is fitted once on a seeded sample of the whole volume's tokens, so one
colour means one direction in feature space everywhere in the volume. Components are
sign-fixed (the largest loading of each is positive) and each is mapped to 0-255 between
its 1st and 99th percentile over the sample, so a few extreme tokens do not wash it out.
"""

from __future__ import annotations

import numpy as np

from ..features.token_pca import TokenPCA

__all__ = ["TokenPCA", "pca_rgb"]

MAX_SAMPLES = 20_000


def pca_rgb(features: np.ndarray, seed: int = 0, max_samples: int = MAX_SAMPLES) -> np.ndarray:
    """Token features ``(dim, Z, Y, X)`` -> an RGB map ``(Z, Y, X, 3)`` uint8 of their first
    three principal components, fitted on at most ``max_samples`` tokens drawn from the
    whole map with ``seed``."""
    flat = features.reshape(len(features), -1)
    count = flat.shape[1]
    chosen = np.arange(count)
    if count > max_samples:
        chosen = np.sort(np.random.default_rng(seed).choice(count, max_samples, replace=False))
    pca = TokenPCA.fit(flat[:, chosen].T)
    return np.stack([pca.rgb(np.moveaxis(plane, 0, -1)) for plane in np.moveaxis(features, 1, 0)])
