"""Inspecting a whole volume tile by tile: maps on the global token lattice, summary, cancel, bad input."""

from dataclasses import replace

import numpy as np
import pytest
import torch

import napari_bright4b.analysis.inspection as inspection_module
from napari_bright4b.analysis.capture import capture_tile
from napari_bright4b.analysis.inspection import check_layers, inspect_job, inspect_volume
from napari_bright4b.api import load_model
from napari_bright4b.errors import BadInputError, Cancelled, OutOfMemory
from napari_bright4b.inference.engine import CancelToken
from napari_bright4b.inference.normalize import percentile_normalize
from napari_bright4b.models.bright4b import Bright4B

VOXEL = (0.29, 0.108, 0.108)


@pytest.fixture(scope="module")
def nano():
    model, card = load_model("nano", quiet=True)
    return model, replace(card, voxel_size=VOXEL, tile=(8, 64, 64))


@pytest.fixture(scope="module")
def volume():
    return np.random.default_rng(0).gamma(2.0, 100.0, size=(1, 16, 70, 64)).astype(np.float32)


def test_tiles_fill_the_whole_token_lattice(nano, volume):
    model, card = nano
    reports = []
    inspection = inspect_volume(model, card, volume, VOXEL, pca_layers=[2, 4], progress=lambda *r: reports.append(r))
    tokens = (8, 5, 4)
    assert inspection.grid.shape == tokens and inspection.tiles == 3 * 2  # z: 4 bricks by 2, sharing 1
    assert reports == [(n, 6) for n in range(1, 7)]
    assert inspection.entropy.shape == (4, *tokens) and inspection.usage.shape == (4, 4, *tokens)
    assert inspection.gates.shape == (4, 3, *tokens) and set(inspection.pca) == {2, 4}
    assert 0 <= inspection.entropy.min() and inspection.entropy.max() <= 1
    np.testing.assert_allclose(inspection.usage.sum(1), 1.0, atol=1e-5)  # no token left unfilled
    assert ((inspection.gates > 0) & (inspection.gates < 1)).all()
    np.testing.assert_allclose(inspection.expert_usage.sum(1), 1.0, atol=1e-6)
    assert inspection.dominant_expert.max() < 4
    np.testing.assert_array_equal(inspection.dominant_expert, inspection.usage.argmax(1))
    assert inspection.pca[4].shape == (*tokens, 3) and inspection.pca[4].dtype == np.uint8


def test_one_tile_over_the_volume_is_the_capture_of_the_whole_volume(nano, volume):
    model, card = nano
    inspection = inspect_volume(model, card, volume, VOXEL, tile=(16, 128, 64), pca_layers=[])
    assert inspection.tiles == 1 and inspection.pca == {}
    whole = capture_tile(model, torch.from_numpy(percentile_normalize(volume)))
    np.testing.assert_array_equal(inspection.entropy, whole.entropy)
    np.testing.assert_array_equal(inspection.usage, whole.usage)
    np.testing.assert_array_equal(inspection.gates, whole.gates)


def test_the_summary_holds_the_issue_fields(nano, volume):
    model, card = nano
    inspection = inspect_volume(model, card, volume, VOXEL, pca_layers=[4])
    summary = inspection.summary()
    assert summary["layers"] == 4 and summary["experts"] == 4 and summary["pca_layers"] == [4]
    assert len(summary["mean_entropy_per_layer"]) == 4 and all(0 <= e <= 1 for e in summary["mean_entropy_per_layer"])
    assert np.allclose([sum(row) for row in summary["expert_usage"]], 1.0, atol=1e-5)
    assert summary["mean_entropy_per_layer"] == pytest.approx(inspection.entropy.mean(axis=(1, 2, 3)), abs=1e-6)
    assert set(summary["mean_gates_per_layer"]) == {"compression", "selection", "window"}
    assert summary["token_grid"]["voxel_size_um"] == pytest.approx([0.58, 1.728, 1.728])
    assert summary["token_grid"]["translate_um"] == pytest.approx([0.145, 0.81, 0.81])


def test_input_at_another_voxel_size_is_inspected_on_the_models_grid(nano, volume):
    model, card = nano
    inspection = inspect_volume(model, card, volume, (0.29, 0.054, 0.054), pca_layers=[])
    assert inspection.grid.model_shape == (16, 35, 32) and inspection.grid.shape == (8, 3, 2)
    assert inspection.grid.placement()[0] == pytest.approx((0.58, 0.054 * 16 * 70 / 35, 1.728))


def test_cancel_stops_before_the_next_tile(nano, volume):
    model, card = nano
    token = CancelToken()
    done = []

    def progress(count, total):
        done.append(count)
        token.cancel()

    with pytest.raises(Cancelled):
        inspect_volume(model, card, volume, VOXEL, progress=progress, cancel=token)
    assert done == [1]


def test_a_tile_that_does_not_fit_in_memory_is_reported_as_the_engine_reports_it(nano, volume, monkeypatch):
    model, card = nano

    def out_of_memory(*args):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")

    monkeypatch.setattr(inspection_module, "capture_tile", out_of_memory)
    with pytest.raises(OutOfMemory, match="single 8x64x64 tile"):
        inspect_volume(model, card, volume, VOXEL)


def test_bad_input_is_refused_with_the_reason(nano, volume):
    model, card = nano
    with pytest.raises(BadInputError, match="needs a Bright-4B model, got a Conv3d"):
        inspect_volume(torch.nn.Conv3d(1, 1, 1), card, volume)
    with pytest.raises(BadInputError, match=r"layer 5 is out of range: the model has 4 transformer layers \(1..4\)"):
        inspect_volume(model, card, volume, pca_layers=[1, 5])
    with pytest.raises(BadInputError, match="2D"):
        inspect_volume(model, card, volume[:, :1])
    with pytest.raises(BadInputError, match=r"expected an image \(1, Z, Y, X\)"):
        inspect_volume(model, card, np.concatenate([volume, volume]))
    assert check_layers([4, 1, 4], 4) == (1, 4)


def test_a_job_loads_inspects_and_gives_a_dense_model_no_gates(tmp_path, volume):
    from napari_bright4b.models.checkpoint import build_model, save_checkpoint

    _, card = load_model("nano", quiet=True)
    card = replace(card, config=replace(card.config, attention="dense"), voxel_size=VOXEL, tile=(16, 64, 64))
    path = save_checkpoint(build_model(card), card, tmp_path / "dense.safetensors")
    inspection = inspect_job(str(path), volume, VOXEL, device="cpu", pca_layers=[4])
    assert inspection.gates is None and inspection.summary()["mean_gates_per_layer"] is None
    assert inspection.device == "cpu" and isinstance(build_model(card), Bright4B)
