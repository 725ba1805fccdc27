"""Learning-rate schedule: linear warmup, then cosine decay to ``floor`` of the peak."""

from __future__ import annotations

import math


def warmup_cosine(step: int, warmup: int, progress: float, floor: float = 0.05) -> float:
    """Multiplier of the peak rate at ``step`` (0-based): ``(step + 1) / warmup`` during
    warmup, then a cosine over ``progress`` in [0, 1] (the share of the steps or of the
    time budget used, whichever is larger)."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, max(0.0, progress))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
