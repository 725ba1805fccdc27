import json
import re

import numpy as np
import pytest

from napari_bright4b.cli import main
from napari_bright4b.data.io import read_image
from napari_bright4b.data.tiff import write_tiff
from napari_bright4b.models.card import ModelCard
from napari_bright4b.models.checkpoint import build_model, load_checkpoint, save_checkpoint
from napari_bright4b.models.config import HeadConfig
from napari_bright4b.models.presets import PRESETS

VOXEL = (1.0, 0.5, 0.5)
SHAPE = (8, 40, 40)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """An image with bright squares, strokes on two slices, and a small base model."""
    folder = tmp_path_factory.mktemp("finetune")
    rng = np.random.default_rng(0)
    truth = np.zeros(SHAPE, bool)
    truth[2:6, 8:18, 8:18] = truth[2:6, 24:34, 20:30] = True
    write_tiff(folder / "img.tif", (1000 + 800 * truth + rng.normal(0, 100, SHAPE)).astype(np.uint16), VOXEL)
    labels = np.zeros(SHAPE, np.uint8)
    for z in (3, 4):
        labels[z, 10:16, 10:16] = labels[z, 26:32, 22:28] = 2
        labels[z, 0:3, :] = labels[z, 36:, 5:35] = 1
    write_tiff(folder / "labels.tif", labels, VOXEL)
    write_tiff(folder / "one-class.tif", (labels == 2).astype(np.uint8) * 2, VOXEL)
    write_tiff(folder / "nothing.tif", np.zeros(SHAPE, np.uint8), VOXEL)
    write_tiff(folder / "small.tif", labels[:, :-1], VOXEL)
    card = ModelCard(
        name="base",
        config=PRESETS["nano"].config,
        head=HeadConfig("segment", ("cell",)),
        voxel_size=VOXEL,
        tile=(8, 32, 32),
    )
    save_checkpoint(build_model(card), card, folder / "base.safetensors")
    return folder


def finetune_argv(files, labels="labels.tif", *options):
    """The command line of a fine-tune; a deep one (``--mode full``) unless ``options`` name a mode."""
    options = [str(option) for option in options]
    mode = [] if "--mode" in options else ["--mode", "full"]
    return [
        "finetune",
        str(files / "img.tif"),
        str(files / labels),
        "-m",
        str(files / "base.safetensors"),
        *mode,
        *options,
    ]


def test_finetune_writes_a_model_that_segment_uses(files, tmp_path, capsys, models_dir):
    out = tmp_path / "tuned.safetensors"
    assert main([*finetune_argv(files, "labels.tif", "-o", out, "--steps", 3, "--classes", "squares"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model"] == str(out) and summary["steps"] == 3 and summary["mode"] == "full"
    assert summary["classes"] == ["background", "squares"] and summary["base"] == "base"
    assert summary["painted_voxels"] == {"background": 2 * (3 * 40 + 4 * 30), "squares": 2 * 2 * 36}
    _, card = load_checkpoint(out)
    assert card.provenance["base_model"] == "base" and card.head.activation == "softmax"

    masks = tmp_path / "masks.tif"
    assert main(["segment", str(files / "img.tif"), "-m", str(out), "-o", str(masks), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["classes"] == ["background", "squares"]
    assert read_image(masks).data.shape == (1, *SHAPE)

    # without -o the model lands in the user's model folder, under a new name
    assert main([*finetune_argv(files, "labels.tif", "--steps", 1), "--json"]) == 0
    path = json.loads(capsys.readouterr().out)["model"]
    assert [p.name for p in models_dir.iterdir()] == [path.rsplit("/", 1)[-1]] and "base-ft-" in path


@pytest.mark.parametrize(
    "labels, options, message",
    [
        ("small.tif", (), "labels \\(8, 39, 40\\) and image \\(8, 40, 40\\) differ in shape"),
        ("one-class.tif", (), "only one class is painted"),
        ("nothing.tif", (), "nothing is painted"),
        ("labels.tif", ("--mode", "lora"), "invalid choice: 'lora'"),
        ("labels.tif", ("--time-budget", "0"), "expected a positive number, got '0'"),
        ("labels.tif", ("--time-budget", "soon"), "expected a positive number"),
        ("labels.tif", ("--steps", "-3"), "expected a positive integer"),
        ("labels.tif", ("--classes", "a,a"), "distinct"),
        ("labels.tif", ("-o", "BASE"), "is the base model"),
        ("labels.tif", ("-o", "model.pt"), "must be a .safetensors file"),
    ],
)
def test_bad_finetune_input_exits_2_with_one_line(files, tmp_path, capsys, models_dir, labels, options, message):
    options = [
        str(files / "base.safetensors") if o == "BASE" else str(tmp_path / o) if o == "model.pt" else o for o in options
    ]
    before = (files / "base.safetensors").read_bytes()
    assert main(finetune_argv(files, labels, *options, "--steps", 1)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("bright4b") and re.search(message, err)
    assert (files / "base.safetensors").read_bytes() == before and not list(models_dir.iterdir())


def test_instant_mode_writes_the_prediction_and_a_model_that_loads(files, tmp_path, capsys):
    from napari_bright4b.training.finetune.instant import InstantModel

    model, prediction = tmp_path / "instant.safetensors", tmp_path / "classes.tif"
    argv = finetune_argv(files, "labels.tif", "--mode", "instant", "-o", model, "--prediction", prediction)
    assert main([*argv, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["mode"] == "instant" and summary["classes"] == ["background", "cell"]
    classes = read_image(prediction)
    assert classes.voxel_size == pytest.approx(VOXEL) and set(np.unique(classes.data)) <= {0, 2}
    squares = np.zeros(SHAPE, bool)
    squares[2:6, 8:18, 8:18] = squares[2:6, 24:34, 20:30] = True
    found = classes.data[0] == 2
    assert 2 * (found & squares).sum() / (found.sum() + squares.sum()) > 0.8
    names = InstantModel.load(model).feature_names
    assert "p(cell)" in names and not any(n.endswith(" um") for n in names)  # the voxel-grid bank by default
    again = tmp_path / "again.tif"
    assert main(["segment", str(files / "img.tif"), "-m", str(model), "-o", str(again)]) == 0
    np.testing.assert_array_equal(read_image(again).data, classes.data)  # the saved classifier, applied anew
    assert main(["deblur", str(files / "img.tif"), "-m", str(model), "-o", str(tmp_path / "x.tif")]) == 2
    assert "instant classifier" in capsys.readouterr().err


def test_instant_mode_adds_the_micrometre_bank_when_asked(files, tmp_path, capsys):
    from napari_bright4b.training.finetune.instant import InstantModel

    model = tmp_path / "instant.safetensors"
    assert main(finetune_argv(files, "labels.tif", "--mode", "instant", "-o", model, "--micrometre-bank")) == 0
    loaded = InstantModel.load(model)
    assert loaded.spec.micrometre and len(loaded.spec.sigmas_um) == 5
    assert sum(n.endswith(" um") for n in loaded.feature_names) == 9 * 5


def test_instant_mode_is_the_default_and_needs_an_output(files, capsys):
    argv = finetune_argv(files, "labels.tif", "--mode", "full")
    assert main([a for a in argv if a not in ("--mode", "full")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--prediction" in err


def test_a_deep_fine_tune_can_learn_from_the_instant_classifier_and_the_image_first(
    files, tmp_path, capsys, monkeypatch
):
    from napari_bright4b.training.finetune import teacher

    seen = []

    def recording(image, voxel_size, labels, classes, base, model=None):
        seen.append(labels)
        return pseudo_codes(image, voxel_size, labels, classes, base, model)

    pseudo_codes = teacher.pseudo_codes
    monkeypatch.setattr(teacher, "pseudo_codes", recording)
    out = tmp_path / "taught.safetensors"
    argv = finetune_argv(files, "labels.tif", "-o", out, "--steps", 2, "--teacher", "--adapt", 0.3)
    assert main([*argv, "--json"]) == 0
    provenance = load_checkpoint(out)[1].provenance
    assert provenance["settings"]["teacher"] is True and provenance["settings"]["adapt_s"] == 0.3
    assert provenance["image_adaptation"]["steps"] >= 1
    strokes = read_image(files / "labels.tif").data[0]
    assert len(seen) == 1 and 0 < (seen[0] > 0).sum() < (strokes > 0).sum()  # the held-out strokes are left out


@pytest.mark.parametrize(
    "options, flag",
    [
        (("--mode", "instant", "--prediction", "p.tif", "--steps", 3), "--steps"),
        (("--prediction", "p.tif"), "--prediction"),
        (("--mode", "adapter", "--micrometre-bank"), "--micrometre-bank"),
        (("--mode", "instant", "--prediction", "p.tif", "--adapt", 5), "--adapt"),
    ],
)
def test_an_option_the_mode_would_ignore_is_refused(files, capsys, options, flag):
    assert main(finetune_argv(files, "labels.tif", *options)) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and flag in err and "would ignore it" in err


def test_instant_outputs_never_overwrite_inputs(files, capsys):
    argv = finetune_argv(files, "labels.tif", "--mode", "instant", "--prediction", files / "img.tif")
    assert main(argv) == 2 and "inputs are never overwritten" in capsys.readouterr().err
    assert read_image(files / "img.tif").data.dtype == np.uint16
