"""Which expert does what: expert usage per biological structure, from an inspection and a
label image of structures (ground truth or a user's labels).

Each token gets the structure most of its voxels belong to (the labels resampled to the
model grid by nearest neighbour, then the majority over the token's patch). Per layer:
each structure's mean expert usage over its tokens (sums to 1 over experts), and the
mutual information (bits) between a token's dominant expert and its structure: 0 when
routing ignores the structure, up to ``log2(min(experts, structures))`` when the expert
tells the structure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import BadInputError
from ..inference.resample import resize_nearest
from .inspection import Inspection
from .token_grid import TokenGrid


def token_structures(labels: np.ndarray, grid: TokenGrid, structures: int) -> np.ndarray:
    """The majority structure ``(*T)`` int64 of each token of ``grid``, from ``labels (Z, Y, X)``
    on the input grid with values ``0 .. structures - 1``."""
    if tuple(labels.shape) != grid.input_shape:
        raise BadInputError(f"the structure labels {tuple(labels.shape)} must match the image {grid.input_shape}")
    labels = np.asarray(labels).astype(np.int64)
    if labels.min() < 0 or labels.max() >= structures:
        raise BadInputError(f"structure labels must be 0..{structures - 1} (one per name), got {labels.max()}")
    on_model = resize_nearest(labels[None].astype(np.float32), grid.model_shape)[0].astype(np.int64)
    padded = np.full([t * p for t, p in zip(grid.shape, grid.patch)], structures, np.int64)  # padding: no vote
    padded[tuple(slice(0, s) for s in on_model.shape)] = on_model
    (tz, ty, tx), (pz, py, px) = grid.shape, grid.patch
    bricks = padded.reshape(tz, pz, ty, py, tx, px).transpose(0, 2, 4, 1, 3, 5).reshape(tz, ty, tx, -1)
    votes = np.stack([(bricks == k).sum(-1) for k in range(structures)])
    return votes.argmax(0)


def mutual_information_bits(a: np.ndarray, b: np.ndarray) -> float:
    """Mutual information (bits) between two integer labelings of the same tokens."""
    joint = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(joint, (a.ravel(), b.ravel()), 1)
    joint /= joint.sum()
    outer = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
    nonzero = joint > 0
    return float((joint[nonzero] * np.log2(joint[nonzero] / outer[nonzero])).sum())


def structure_usage(inspection: Inspection, tokens: np.ndarray, names: Sequence[str]) -> dict:
    """Per layer and structure, the mean expert usage and token count, and per layer the
    mutual information between dominant expert and structure; JSON-ready. ``tokens (*T)``
    are :func:`token_structures`; structures without tokens are left out."""
    present = [k for k in range(len(names)) if (tokens == k).any()]
    usage = inspection.usage.reshape(inspection.layers, inspection.experts, -1)
    flat = tokens.ravel()
    per_layer = []
    for layer in range(inspection.layers):
        shares = {names[k]: usage[layer][:, flat == k].mean(-1, dtype=np.float64) for k in present}
        dominant = inspection.dominant_expert[layer].ravel().astype(np.int64)
        per_layer.append(
            {
                "usage": {name: [round(float(v), 4) for v in share] for name, share in shares.items()},
                "mutual_information_bits": round(mutual_information_bits(dominant, flat), 4),
            }
        )
    return {
        "structures": [names[k] for k in present],
        "tokens": {names[k]: int((flat == k).sum()) for k in present},
        "layers": per_layer,
    }
