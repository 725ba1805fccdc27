import dataclasses
import math

import numpy as np

from napari_bright4b.api import load_model
from napari_bright4b.inference.estimate import Estimate, estimate_run, measure_tile, tile_bytes
from napari_bright4b.inference.job import run_job
from napari_bright4b.inference.predict import model_tile
from napari_bright4b.models.config import total_parameters
from napari_bright4b.models.registry import resolve

ORGANELLES = "bright4b-nano-organelles"


def card():
    return resolve(ORGANELLES).card


def test_the_tile_count_is_the_engines_under_resampling():
    shape, voxel = (10, 96, 80), (0.29, 0.108, 0.108)  # resampled to (10, 48, 40) for the model
    estimate = estimate_run(shape, voxel, card(), tile=(4, 64, 64), overlap=0.25)
    image = np.random.default_rng(0).normal(size=(1, *shape)).astype(np.float32)
    assert run_job(ORGANELLES, image, voxel, device="cpu", tile=(4, 64, 64)).tiles == estimate.tiles > 1


def test_memory_counts_outputs_resampled_copies_and_labels():
    c = card()
    voxels = 8 * 64 * 64
    same = estimate_run((8, 64, 64), c.voxel_size, c)
    assert same.ram_bytes == 3 * voxels * 4 + 3 * voxels  # float32 probabilities, uint8 masks
    assert estimate_run((8, 64, 64), c.voxel_size, c, instances=True).ram_bytes == same.ram_bytes + 3 * voxels * 4
    finer = estimate_run((8, 128, 128), (0.29, 0.108, 0.108), c)  # a model grid of (8, 64, 64)
    assert finer.ram_bytes == 4 * same.ram_bytes + (2 + 3) * voxels * 4
    weights = total_parameters(c.config, c.head) * 4
    per_voxel = 176 + 24 * c.config.decoder_features
    assert same.device_bytes == weights + tile_bytes(c) == weights + math.prod(model_tile(c)) * per_voxel
    assert estimate_run((8, 64, 64), c.voxel_size, c, measured_tile_bytes=123).device_bytes == weights + 123


def test_time_is_tiles_times_views_times_the_seconds_per_tile():
    c = dataclasses.replace(card(), views=1)
    assert estimate_run((8, 64, 64), c.voxel_size, c).seconds is None
    estimate = estimate_run((64, 64, 64), c.voxel_size, c, seconds_per_tile=0.5)
    assert estimate.seconds == estimate.tiles * 0.5
    viewed = estimate_run((64, 64, 64), c.voxel_size, dataclasses.replace(c, views=4), seconds_per_tile=0.5)
    assert viewed.seconds == estimate.tiles * 4 * 0.5  # every view is one more pass of each tile
    assert estimate_run((64, 64, 64), c.voxel_size, c, views=8, seconds_per_tile=0.5).seconds == viewed.seconds * 2
    described = Estimate(12, 210_000_000, 50_000_000, 3.0).describe()
    assert described == "12 tiles · RAM 0.21 GB · device 0.05 GB · about 3.0 s"
    assert "measure one tile" in Estimate(1, 0, 0).describe()


def test_one_tile_is_timed_on_the_cpu():
    model, c = load_model(ORGANELLES)
    cost = measure_tile(model, c, tile=(4, 64, 64))
    assert cost.seconds > 0 and cost.device_bytes is None
