"""Fine-tuning a small model on strokes painted over a toy volume of bright blobs."""

import hashlib

import numpy as np
import pytest
import torch

from napari_bright4b.analysis.metrics import overlap_metrics
from napari_bright4b.errors import BadInputError
from napari_bright4b.inference.engine import CancelToken
from napari_bright4b.inference.predict import run_model
from napari_bright4b.models.card import ModelCard
from napari_bright4b.models.checkpoint import build_model, load_checkpoint, save_checkpoint
from napari_bright4b.models.config import HeadConfig
from napari_bright4b.models.presets import PRESETS
from napari_bright4b.models.registry import BUNDLED_DIR, list_models
from napari_bright4b.training.finetune import FinetuneSettings, check_output, default_output, finetune
from napari_bright4b.training.finetune.adaptation import replace_head
from napari_bright4b.training.finetune.held_out import Score, StrokeScorer
from napari_bright4b.training.finetune.painted import painted_classes, painted_data

VOXEL = (1.0, 1.0, 1.0)
SHAPE = (16, 32, 32)


def toy_volume(seed: int = 0):
    """``image (1, Z, Y, X)``, true blobs ``(Z, Y, X)`` and strokes on three slices."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    truth = np.zeros(SHAPE, bool)
    for centre in rng.integers((3, 6, 6), (13, 26, 26), size=(5, 3)):
        truth |= ((zz - centre[0]) / 3) ** 2 + ((yy - centre[1]) / 4.5) ** 2 + ((xx - centre[2]) / 4.5) ** 2 < 1
    image = (truth + rng.normal(0, 0.3, SHAPE)).astype(np.float32)[None]
    labels = np.zeros(SHAPE, np.uint8)
    for z in (4, 8, 12):
        labels[z][truth[z]] = 2
        labels[z][~truth[z] & (rng.random(SHAPE[1:]) < 0.3)] = 1
    return image, truth, labels


def save_toy_base(folder, voxel_size=VOXEL):
    """A small random base model ``toy-base`` (a sigmoid head named 'blob', tile 16x32x32)
    saved in ``folder``; returns its path."""
    torch.manual_seed(0)
    card = ModelCard(
        name="toy-base",
        config=PRESETS["nano"].config,
        head=HeadConfig("segment", ("blob",), "sigmoid"),
        voxel_size=voxel_size,
        tile=(16, 32, 32),
    )
    return save_checkpoint(build_model(card), card, folder / "toy-base.safetensors")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return save_toy_base(tmp_path_factory.mktemp("base"))


@pytest.fixture(scope="module")
def tuned(base, tmp_path_factory):
    """A 24-step fine-tune of the base on the toy strokes, saved in a model folder."""
    folder = tmp_path_factory.mktemp("models")
    image, _, labels = toy_volume()
    settings = FinetuneSettings(mode="adapter", steps=24, time_budget_s=None, evaluate_every=6, learning_rate=2e-3)
    return finetune(image, VOXEL, labels, str(base), settings=settings, out=folder / "toy-ft.safetensors")


def kept_step(scores) -> int:
    """The step a fine-tune keeps, from its ``[step, loss, balanced accuracy]`` scores."""
    best = None
    for step, loss, accuracy in scores:
        if best is None or Score(loss, accuracy).better_than(best[1]):
            best = step, Score(loss, accuracy)
    return best[0]


def test_a_later_state_is_kept_only_if_clearly_more_accurate():
    assert Score(loss=1.0, balanced_accuracy=0.80).better_than(Score(loss=0.5, balanced_accuracy=0.70))
    assert Score(loss=1.0, balanced_accuracy=0.715).better_than(Score(loss=0.5, balanced_accuracy=0.70))
    assert not Score(loss=0.1, balanced_accuracy=0.705).better_than(Score(loss=1.0, balanced_accuracy=0.70))
    assert not Score(loss=0.1, balanced_accuracy=0.70).better_than(Score(loss=1.0, balanced_accuracy=0.70))


def dice(classes: np.ndarray, truth: np.ndarray) -> float:
    return overlap_metrics(classes == 1, truth)["dice"]


def test_a_short_fine_tune_raises_dice_on_the_toy_volume(base, tuned):
    image, truth, _ = toy_volume()
    model, card = load_checkpoint(base)
    card = replace_head(model, card, ("background", "blob"))  # the model before its first step
    before = dice(run_model(model.eval(), card, image).argmax(0), truth)
    after = dice(run_model(tuned.model, tuned.card, image).argmax(0), truth)
    assert after > max(0.6, before + 0.2)
    assert tuned.steps == 24 and not tuned.cancelled and [s[0] for s in tuned.scores] == [6, 12, 18, 24]
    assert tuned.best_step == kept_step(tuned.scores)


def test_the_saved_model_loads_with_its_provenance_and_is_listed_at_once(base, tuned, monkeypatch):
    monkeypatch.setenv("BRIGHT4B_MODELS_DIR", str(tuned.path.parent))
    entry = next(e for e in list_models() if e.name == "toy-ft")
    assert entry.source == "user" and entry.card.head == HeadConfig("segment", ("background", "blob"), "softmax")
    model, card = load_checkpoint(tuned.path)
    p = card.provenance
    assert p["base_model"] == "toy-base" and p["mode"] == "adapter" and p["steps"] == 24
    assert p["painted_voxels"] == dict(zip(tuned.classes.names, tuned.classes.voxels))
    assert p["best_step"] == tuned.best_step and p["best_held_out"]["loss"] == pytest.approx(tuned.best.loss, abs=1e-5)
    assert {"final_loss", "seconds", "train_seconds", "date", "bright4b", "torch", "scored_on"} <= set(p)
    image = toy_volume()[0]
    np.testing.assert_allclose(run_model(model, card, image), run_model(tuned.model, tuned.card, image), atol=1e-5)


def test_cancel_keeps_the_best_model_so_far(base, tmp_path):
    image, _, labels = toy_volume()
    before = hashlib.sha256(base.read_bytes()).hexdigest()
    token = CancelToken()

    def progress(report):
        if report.step == 9:
            token.cancel()

    settings = FinetuneSettings(steps=100, time_budget_s=None, evaluate_every=4, learning_rate=2e-3)
    result = finetune(
        image,
        VOXEL,
        labels,
        str(base),
        settings=settings,
        out=tmp_path / "c.safetensors",
        progress=progress,
        cancel=token,
    )
    assert result.cancelled and result.steps == 9 and [s[0] for s in result.scores] == [4, 8, 9]
    assert result.best_step == kept_step(result.scores)
    # the saved weights are the best state: scoring them again gives the best score
    model, card = load_checkpoint(result.path)
    assert card.provenance["cancelled"] and card.provenance["best_step"] == result.best_step
    classes = painted_classes(labels, base_classes=("blob",))
    data = painted_data(image, VOXEL, labels, classes, card, settings.held_out_share, np.random.default_rng(0))
    assert StrokeScorer(data.image, data.held_out, 2, card.tile)(model).loss == pytest.approx(
        result.best.loss, abs=1e-4
    )
    assert hashlib.sha256(base.read_bytes()).hexdigest() == before  # the base is never written


def test_the_base_and_the_bundled_folder_are_never_written(base, models_dir):
    assert default_output("toy-base").parent == models_dir and default_output("toy-base").name.startswith(
        "toy-base-ft-"
    )
    with pytest.raises(BadInputError, match="base is never overwritten"):
        check_output(base, base)
    with pytest.raises(BadInputError, match="bundled models"):
        check_output(BUNDLED_DIR / "mine.safetensors", base)
    with pytest.raises(BadInputError, match=".safetensors"):
        check_output(models_dir / "mine.pt", base)
    image, _, labels = toy_volume()
    with pytest.raises(BadInputError, match="only one class"):
        finetune(
            image, VOXEL, np.where(labels == 2, 2, 0).astype(np.uint8), str(base), settings=FinetuneSettings(steps=1)
        )
    with pytest.raises(BadInputError, match="differ in shape"):
        finetune(image, VOXEL, labels[:, :-1], str(base))
    with pytest.raises(BadInputError, match="unknown fine-tuning mode"):
        FinetuneSettings(mode="lora")
    with pytest.raises(BadInputError, match="time budget"):
        FinetuneSettings(time_budget_s=0)
    assert not list(models_dir.iterdir())
