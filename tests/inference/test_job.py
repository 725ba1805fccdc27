import gc
import weakref

import numpy as np
import pytest

from napari_bright4b.errors import BadInputError, Cancelled
from napari_bright4b.inference.engine import CancelToken
from napari_bright4b.inference.job import Labelling, relabel, run_job
from napari_bright4b.models import session
from napari_bright4b.models.card import ModelCard
from napari_bright4b.models.checkpoint import build_model, save_checkpoint
from napari_bright4b.models.config import HeadConfig
from napari_bright4b.models.registry import resolve

ORGANELLES = "bright4b-nano-organelles"
VOXEL = (0.29, 0.216, 0.216)  # the organelle model's own: no resampling


def volume(shape=(1, 8, 64, 64), seed=0):
    return np.random.default_rng(seed).normal(1000, 50, size=shape).astype(np.float32)


def save_model(folder, head, name):
    """A random-weight model with the bundled one's backbone and voxel size, and ``head``."""
    config = resolve(ORGANELLES).card.config
    card = ModelCard(name=name, config=config, head=head, voxel_size=VOXEL, tile=(8, 64, 64))
    return str(save_checkpoint(build_model(card).eval(), card, folder / f"{name}.safetensors"))


def test_segmentation_gives_probabilities_and_one_mask_per_class_on_the_input_grid():
    image = volume()
    original = image.copy()
    reports = []
    result = run_job(ORGANELLES, image, VOXEL, device="cpu", progress=lambda d, t: reports.append((d, t)))
    assert np.array_equal(image, original)
    assert result.maps.shape == (3, 8, 64, 64) and result.maps.dtype == np.float32
    assert [s.name for s in result.structures] == ["nuclei", "nucleoli", "mitochondria"]
    assert all(s.kind == "mask" and s.labels.shape == (8, 64, 64) and 0 < s.cut < 1 for s in result.structures)
    assert reports[-1] == (result.tiles, result.tiles) and result.device == "cpu"
    names, probabilities, masks = result.class_masks()
    assert names == ["nuclei", "nucleoli", "mitochondria"]
    assert all(np.array_equal(m, p > s.cut) for m, p, s in zip(masks, probabilities, result.structures))
    cuts = resolve(ORGANELLES).card.thresholds  # by default each class is cut where its card says
    assert cuts and [s.cut for s in result.structures] == [cuts[n] for n in names]


def test_relabelling_follows_the_threshold_without_running_the_model():
    result = run_job(ORGANELLES, volume(), VOXEL, device="cpu", labelling=Labelling(threshold=0.2))
    higher = relabel(result, Labelling(threshold=0.6))
    assert higher.maps is result.maps
    for low, high in zip(result.structures, higher.structures):
        assert high.cut == 0.6 and low.cut == 0.2
        assert not (high.labels & ~low.labels).any()  # a higher cut only removes voxels
    instances = relabel(result, Labelling(threshold=0.2, instances=True))
    assert all(s.kind == "instances" and s.labels.dtype == np.uint32 for s in instances.structures)
    assert all(np.array_equal(i.labels > 0, m.labels > 0) for i, m in zip(instances.structures, result.structures))


def test_a_cancelled_run_raises_and_releases_the_model(monkeypatch):
    loaded = []

    def load_model(spec, device, dtype, quiet):
        model, card = real_load(spec, device, dtype, quiet)
        loaded.append(weakref.ref(model))
        return model, card

    real_load = session.load_model
    monkeypatch.setattr(session, "load_model", load_model)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled) as caught:
        run_job(ORGANELLES, volume(), VOXEL, device="cpu", cancel=token)
    frames = [entry.name for entry in caught.traceback]
    assert "run_model" not in frames  # no frame that holds the model
    gc.collect()
    assert loaded[0]() is None


def test_a_model_of_another_task_is_refused_before_it_runs():
    with pytest.raises(BadInputError, match="is a segment model, not a deblur model"):
        run_job(ORGANELLES, volume(), VOXEL, device="cpu", task="deblur")


def test_without_a_voxel_size_the_models_own_is_assumed_and_said():
    with pytest.warns(UserWarning, match=r"assuming the model's \(0.29, 0.216, 0.216\) um"):
        result = run_job(ORGANELLES, volume(), None, device="cpu")
    assert result.voxel_size == VOXEL


def test_exclusive_models_label_every_class_but_the_background(tmp_path):
    spec = save_model(tmp_path, HeadConfig(class_names=("background", "a", "b"), activation="softmax"), "soft")
    result = run_job(spec, volume(), VOXEL, device="cpu")
    assert result.exclusive
    assert [(s.name, s.channel, s.cut) for s in result.structures] == [("a", 1, None), ("b", 2, None)]
    winner = np.argmax(result.maps, axis=0)
    assert np.array_equal(result.structures[0].labels, (winner == 1).astype(np.uint8))


def test_classification_gives_a_class_map_and_one_distribution(tmp_path):
    spec = save_model(tmp_path, HeadConfig(task="classify", class_names=("nuclear", "vessel")), "stain")
    result = run_job(spec, volume(), VOXEL, device="cpu")
    assert result.volume_probabilities.shape == (2,) and np.isclose(result.volume_probabilities.sum(), 1)
    assert result.class_map.dtype == np.uint8 and set(np.unique(result.class_map)) <= {1, 2}
    names, _, masks = result.class_masks()
    assert names == ["nuclear", "vessel"] and sum(m.sum() for m in masks) == result.class_map.size


def test_an_image_with_the_wrong_channel_count_is_refused():
    with pytest.raises(BadInputError, match="reads 1 channel"):
        run_job(ORGANELLES, volume((2, 8, 64, 64)), VOXEL, device="cpu")


def test_an_open_session_runs_several_volumes_and_stays_open():
    with session.ModelSession(ORGANELLES, "cpu") as opened:
        first = run_job(opened, volume(seed=1), VOXEL)
        second = run_job(opened, volume(seed=2), VOXEL)
        assert opened.model is not None  # not released between runs
        with pytest.raises(BadInputError, match="is a segment model, not a deblur model"):
            run_job(opened, volume(), VOXEL, task="deblur")
    alone = run_job(ORGANELLES, volume(seed=1), VOXEL, device="cpu")
    assert np.array_equal(first.maps, alone.maps) and not np.array_equal(first.maps, second.maps)
    assert first.settings["model"] == ORGANELLES and opened.model is None
