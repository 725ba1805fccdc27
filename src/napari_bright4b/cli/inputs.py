"""What the commands that run a model check of their input image: its channels and its voxel size."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import BadInputError


def check_channels(volume, card, name: str) -> None:
    """Refuse an image whose channel count is not the model's, suggesting --channel or --axes."""
    channels = card.config.in_channels
    if volume.data.shape[0] != channels:
        raise BadInputError(
            f"{name} has {volume.data.shape[0]} channels but the model reads {channels}; pick one with --channel N"
            + (" (or, if they are z-slices, read it with --axes ZYX)" if volume.data.shape[1] == 1 else "")
        )


def voxel_size_of(args, volume, card) -> tuple[list[float], str]:
    """The voxel size to run at and where it came from: --voxel-size, the file, else the
    model's (with a note on stderr)."""
    if args.voxel_size:
        return list(args.voxel_size), "--voxel-size"
    if volume.voxel_size:
        from ..inference.resample import check_voxel_size

        return list(check_voxel_size(volume.voxel_size)), "file"
    print(
        f"bright4b: note: {Path(args.image).name} records no voxel size; assuming the model's "
        f"{tuple(card.voxel_size)} um (set --voxel-size Z Y X)",
        file=sys.stderr,
    )
    return list(card.voxel_size), "model"
