import numpy as np
import pytest
import torch

from napari_bright4b.errors import BadInputError, Cancelled, OutOfMemory
from napari_bright4b.inference.engine import CancelToken, predict_tiled
from napari_bright4b.inference.normalize import Normalizer, percentile_normalize
from napari_bright4b.models.bright4b import Bright4B
from napari_bright4b.models.heads import activate
from napari_bright4b.models.presets import PRESETS


def nano_predict():
    """The nano preset as a tile predictor: probabilities ``(B, 1, z, y, x)``."""
    preset = PRESETS["nano"]
    model = Bright4B(preset.config, preset.head).eval()
    return lambda batch: activate(model.head_config, model(batch))


def local_model():
    torch.manual_seed(0)
    conv = torch.nn.Conv3d(1, 2, 3, padding=1)
    return lambda batch: conv(batch)


def test_tiled_prediction_equals_whole_volume_prediction_for_a_local_model():
    predict = local_model()
    volume = np.random.default_rng(1).normal(size=(1, 13, 70, 41)).astype(np.float32)
    tiled = predict_tiled(predict, volume, 2, tile=(8, 32, 32), overlap=0.5, batch_size=3)
    with torch.no_grad():
        whole = predict(torch.from_numpy(volume)[None])[0].numpy()
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def test_progress_reaches_the_total_and_cancel_stops_before_the_next_batch():
    predict = local_model()
    volume = np.zeros((1, 16, 64, 64), np.float32)
    calls = []
    predict_tiled(predict, volume, 2, tile=(8, 32, 32), progress=lambda d, t: calls.append((d, t)))
    assert calls[-1][0] == calls[-1][1] and [d for d, _ in calls] == sorted(d for d, _ in calls)
    token = CancelToken()

    def cancel_after_first(done, total):
        token.cancel()

    with pytest.raises(Cancelled):
        predict_tiled(predict, volume, 2, tile=(8, 32, 32), progress=cancel_after_first, cancel=token)


def test_bright4b_nano_runs_tiled_over_an_odd_volume():
    volume = np.random.default_rng(2).normal(size=(1, 9, 70, 50)).astype(np.float32)
    predict = nano_predict()

    probs = predict_tiled(predict, volume, 1, tile=(8, 64, 64), overlap=0.25)
    assert probs.shape == (1, 9, 70, 50)
    assert (probs >= 0).all() and (probs <= 1).all()


def test_percentile_normalization_maps_percentiles_and_refuses_bad_volumes():
    volume = np.arange(1000, dtype=np.uint16).reshape(10, 10, 10)
    original = volume.copy()
    norm = percentile_normalize(volume, 1, 99)
    assert norm.dtype == np.float32
    assert np.isclose(np.percentile(norm, 1), 0, atol=1e-6) and np.isclose(np.percentile(norm, 99), 1, atol=1e-6)
    assert np.array_equal(volume, original)  # the input is never modified
    with pytest.raises(BadInputError, match="constant"):
        percentile_normalize(np.full((4, 4, 4), 7.0))
    with pytest.raises(BadInputError, match="NaN"):
        percentile_normalize(np.array([[[np.nan, 1.0]]]))


def test_out_of_memory_halves_the_batch_and_keeps_the_result():
    predict = local_model()
    volume = np.random.default_rng(3).normal(size=(1, 16, 64, 64)).astype(np.float32)
    sizes = []

    def fragile(batch):
        sizes.append(batch.shape[0])
        if batch.shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return predict(batch)

    reference = predict_tiled(predict, volume, 2, tile=(8, 32, 32), batch_size=1)
    result = predict_tiled(fragile, volume, 2, tile=(8, 32, 32), batch_size=8)
    assert sizes[:3] == [8, 4, 2] and max(sizes[3:]) == 2
    np.testing.assert_allclose(result, reference, atol=1e-6)

    def hopeless(batch):
        raise MemoryError()

    with pytest.raises(OutOfMemory, match="single 8x32x32 tile"):
        predict_tiled(hopeless, volume, 2, tile=(8, 32, 32), batch_size=4)


def test_regions_computed_apart_assemble_into_the_whole_for_a_global_model():
    volume = np.random.default_rng(4).normal(size=(1, 12, 80, 72)).astype(np.float32)
    predict = nano_predict()

    tile = (8, 64, 64)
    whole = predict_tiled(predict, volume, 1, tile)
    parts = np.zeros_like(whole)
    for region in [
        (slice(0, 5), slice(0, 80), slice(0, 72)),
        (slice(5, 12), slice(0, 30), slice(0, 72)),
        (slice(5, 12), slice(30, 80), slice(0, 72)),
    ]:
        parts[(slice(None), *region)] = predict_tiled(predict, volume, 1, tile, region=region)
    np.testing.assert_allclose(parts, whole, atol=1e-6)


def test_streams_from_and_into_zarr_arrays_with_per_tile_preparation(tmp_path):
    zarr = pytest.importorskip("zarr")
    predict = local_model()
    raw = np.random.default_rng(5).integers(0, 4000, size=(1, 10, 50, 40)).astype(np.uint16)
    source = zarr.create_array(str(tmp_path / "in.zarr"), shape=raw.shape, dtype=raw.dtype, chunks=(1, 4, 16, 16))
    source[...] = raw
    out = zarr.create_array(
        str(tmp_path / "out.zarr"), shape=(2, 10, 50, 40), dtype="f4", chunks=(1, 4, 16, 16), fill_value=0
    )
    prepare = Normalizer(100.0, 3900.0)
    predict_tiled(predict, source, 2, tile=(8, 32, 32), prepare=prepare, out=out)
    expected = predict_tiled(predict, prepare(raw), 2, tile=(8, 32, 32))
    np.testing.assert_allclose(out[...], expected, atol=1e-6)
    with pytest.raises(BadInputError, match="NaN"):
        predict_tiled(predict, np.full((1, 4, 8, 8), np.nan, np.float32), 2, tile=(4, 8, 8), prepare=prepare)
