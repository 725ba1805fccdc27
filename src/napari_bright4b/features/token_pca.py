"""Principal components of token features, fitted once on a sample so that one direction
means the same everywhere in a volume: sign-fixed (the largest loading of each is positive),
with per component the 1st and 99th percentiles of the sample for colour maps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COMPONENTS = 3
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
