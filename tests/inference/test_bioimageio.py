"""The bioimage.io export: a package bioimageio.core's own model test passes, whose test
output is this engine's output on the test input."""

import zipfile

import numpy as np
import pytest

from napari_bright4b.cli import main
from napari_bright4b.inference.predict import run_model
from napari_bright4b.models.session import load_model

core = pytest.importorskip("bioimageio.core")


@pytest.mark.parametrize("model", ["bright4b-nano-organelles", "bright4b-nano-deblur"])
def test_an_exported_package_passes_bioimageio_cores_model_test(tmp_path, capsys, model):
    out = tmp_path / f"{model}.zip"
    assert main(["export", model, "-o", str(out), "--test-shape", "8", "64", "64"]) == 0
    assert str(out) in capsys.readouterr().out
    with zipfile.ZipFile(out) as package:
        names = set(package.namelist())
    assert {"rdf.yaml", "weights.pt", "test_input.npy", "test_output.npy", "cover.png", "README.md"} <= names
    summary = core.test_model(str(out))
    failed = [(d.name, [e.msg for e in d.errors]) for d in summary.details if d.status != "passed"]
    assert summary.status == "passed", failed


def test_the_packages_test_output_is_the_engines_output(tmp_path):
    from napari_bright4b.inference.bioimageio import export_bioimageio

    out = export_bioimageio("bright4b-nano-organelles", tmp_path / "m.zip", (8, 64, 64))
    with zipfile.ZipFile(out) as package:
        image = np.load(package.open("test_input.npy"))[0]
        expected = np.load(package.open("test_output.npy"))[0]
    net, card = load_model("bright4b-nano-organelles")
    engine = run_model(net, card, image, card.voxel_size, tile=(8, 64, 64), overlap=0.0)
    assert expected.shape == engine.shape == (3, 8, 64, 64)
    np.testing.assert_allclose(expected, engine, atol=1e-4)


def test_a_classifier_or_a_wrong_suffix_is_refused_in_one_line(tmp_path, capsys):
    assert main(["export", "bright4b-nano-stain", "-o", str(tmp_path / "s.zip")]) == 2
    assert "bioimage.io export takes segment, deblur" in capsys.readouterr().err
    assert main(["export", "bright4b-nano-organelles", "-o", str(tmp_path / "s.tar")]) == 2
    assert "is a .zip file" in capsys.readouterr().err


def test_a_model_that_refines_richardson_lucy_is_refused_in_one_line(tmp_path, capsys):
    import dataclasses

    from napari_bright4b.models.checkpoint import build_model, save_checkpoint
    from napari_bright4b.models.registry import resolve

    card = dataclasses.replace(resolve("bright4b-nano-deblur").card, deconvolution={"iterations": 3, "tv": 0.0})
    path = save_checkpoint(build_model(card), card, tmp_path / "refine.safetensors")
    assert main(["export", str(path), "-o", str(tmp_path / "r.zip")]) == 2
    assert "cannot run before the model" in capsys.readouterr().err and not (tmp_path / "r.zip").exists()
