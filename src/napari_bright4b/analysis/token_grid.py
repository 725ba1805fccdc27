"""Where a volume's tokens lie in the world: one value per patch, drawn over exactly that patch.

The model reads the volume resampled to its card's voxel size (the *model grid*, as the
engine does) and cuts it into ``patch = (p_z, p_y, p_x)`` voxel bricks: token ``(i, j, k)``
covers model-grid voxels ``[i p_z, (i + 1) p_z) x [j p_y, ...) x [k p_x, ...)``; the last
token of an axis overhangs the volume when its size is not a multiple of the patch (the
model mirror-pads it). Resampling keeps the volume's physical extent, so a model voxel is
``input voxel * input size / model size`` micrometres (the card's voxel size up to rounding).

napari draws pixel ``n`` of a layer centred on ``translate + n * scale``, covering
``scale`` around it. A token map therefore gets ``scale = patch * model voxel`` and
``translate = input translate + (scale - input voxel) / 2``: its pixel ``k`` then starts
where the input's voxel ``k * p`` starts (for resampled input, where the model voxel
``k * p`` starts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..inference.resample import check_voxel_size, target_shape
from ..models.card import ModelCard

Triple = tuple[int, int, int]


@dataclass(frozen=True)
class TokenGrid:
    """The token lattice of a volume of ``input_shape`` voxels at ``input_voxel_size`` (um)
    that the model reads resampled to ``model_shape``, in ``patch``-sized tokens."""

    input_shape: Triple
    input_voxel_size: tuple[float, float, float]
    model_shape: Triple
    patch: Triple

    @classmethod
    def for_volume(cls, shape: Sequence[int], voxel_size: Sequence[float], card: ModelCard) -> TokenGrid:
        """The grid of a ``(Z, Y, X)`` volume at ``voxel_size`` for the model of ``card``."""
        voxel_size = check_voxel_size(voxel_size)
        model_shape = target_shape(shape, voxel_size, card.voxel_size)
        return cls(tuple(int(s) for s in shape), voxel_size, model_shape, tuple(card.config.patch))

    @property
    def shape(self) -> Triple:
        """Tokens along (z, y, x): enough to cover the model grid."""
        return tuple(-(-s // p) for s, p in zip(self.model_shape, self.patch))

    @property
    def model_voxel_size(self) -> tuple[float, float, float]:
        """The model grid's voxel size (um): the input's, or the card's up to rounding."""
        return tuple(v * n / m for v, n, m in zip(self.input_voxel_size, self.input_shape, self.model_shape))

    def placement(
        self, input_scale: Sequence[float] | None = None, input_translate: Sequence[float] = (0.0, 0.0, 0.0)
    ) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """napari ``scale`` and ``translate`` of a token map over an input layer drawn with
        ``input_scale`` (default: its voxel size, so the scale is a token's size in um) and
        ``input_translate``."""
        input_scale = self.input_voxel_size if input_scale is None else tuple(float(s) for s in input_scale)
        scale = tuple(
            float(p * s * n / m) for p, s, n, m in zip(self.patch, input_scale, self.input_shape, self.model_shape)
        )
        translate = tuple(float(t + (k - s) / 2) for t, k, s in zip(input_translate, scale, input_scale))
        return scale, translate
