"""Token features projected to their first three principal components, as RGB colours.

The projection is fitted once on a seeded sample of the whole volume's tokens, so one
colour means one direction in feature space everywhere in the volume. Components are
sign-fixed (the largest loading of each is positive) and each is mapped to 0-255 between
its 1st and 99th percentile over the sample, so a few extreme tokens do not wash it out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COMPONENTS = 3
MAX_SAMPLES = 20_000
PERCENTILES = (1.0, 99.0)


@dataclass(frozen=True)
class TokenPCA:
    """``mean (dim,)``, ``components (k, dim)`` (orthonormal rows, 3 by default; zero rows
    where the data has fewer directions), and per component the ``low``/``high`` (k,)
    values that map to 0 and 255."""

    mean: np.ndarray
    components: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray, count: int = COMPONENTS) -> TokenPCA:
        """Fit ``count`` components on ``features (N, dim)``."""
        features = np.asarray(features, dtype=np.float64)
        mean = features.mean(0)
        _, _, vt = np.linalg.svd(features - mean, full_matrices=False)
        components = np.zeros((count, features.shape[1]))
        found = vt[:count]
        signs = np.sign(found[np.arange(len(found)), np.abs(found).argmax(1)])
        components[: len(found)] = found * signs[:, None]
        projected = (features - mean) @ components.T
        low, high = np.percentile(projected, PERCENTILES, axis=0)
        return cls(mean, components, low, high)

    def project(self, features: np.ndarray) -> np.ndarray:
        """``features (..., dim)`` -> coordinates on the components ``(..., k)``."""
        return (np.asarray(features, dtype=np.float64) - self.mean) @ self.components.T

    def rgb(self, features: np.ndarray) -> np.ndarray:
        """``features (..., dim)`` -> colours ``(..., 3)`` uint8 (a flat component is 0)."""
        span = self.high - self.low
        scaled = (self.project(features) - self.low) / np.where(span > 0, span, np.inf)
        return np.round(np.clip(scaled, 0.0, 1.0) * 255).astype(np.uint8)


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
