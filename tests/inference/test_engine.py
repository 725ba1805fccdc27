import numpy as np
import pytest
import torch

from napari_bright4b.errors import BadInputError
from napari_bright4b.inference.engine import Cancelled, CancelToken, predict_tiled
from napari_bright4b.inference.normalize import percentile_normalize
from napari_bright4b.models.bright4b import Bright4B
from napari_bright4b.models.config import PRESETS


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
    preset = PRESETS["nano"]
    model = Bright4B(preset.config, preset.head).eval()
    volume = np.random.default_rng(2).normal(size=(1, 9, 70, 50)).astype(np.float32)

    def predict(batch):
        return model.head.probabilities(model(batch))

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
