"""``bright4b inspect``: maps as TIFF with the token size, plots, a JSON summary; bad input exits 2."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from napari_bright4b.cli import main
from napari_bright4b.data.io import read_image
from napari_bright4b.data.tiff import write_tiff
from napari_bright4b.models.card import ModelCard
from napari_bright4b.models.checkpoint import build_model, save_checkpoint
from napari_bright4b.models.config import HeadConfig
from napari_bright4b.models.presets import PRESETS

VOXEL = (0.5, 0.2, 0.2)
TOKEN = (1.0, 3.2, 3.2)
FILES = [
    "routing_entropy.tif",
    "dominant_expert.tif",
    *[f"expert_usage_layer{n}.tif" for n in range(1, 5)],
    "gate_compression.tif",
    "gate_selection.tif",
    "gate_window.tif",
    "pca_layer2.tif",
    "pca_layer4.tif",
    "expert_usage.png",
    "expert_usage_by_depth.png",
    "routing_entropy.png",
    "summary.json",
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inspect")
    rng = np.random.default_rng(0)
    write_tiff(folder / "img.tif", rng.integers(0, 3000, size=(16, 64, 70)).astype(np.uint16), VOXEL)
    write_tiff(folder / "flat2d.tif", rng.integers(0, 3000, size=(1, 64, 64)).astype(np.uint16), VOXEL)
    card = ModelCard(name="m", config=PRESETS["nano"].config, head=HeadConfig(), voxel_size=VOXEL, tile=(8, 64, 64))
    save_checkpoint(build_model(card), card, folder / "m.safetensors")
    torch.save({"weights": torch.zeros(3)}, folder / "pickled.safetensors")
    save_file({"weights": torch.zeros(3)}, folder / "plain.safetensors")  # safetensors, but no Bright-4B card
    return folder


def inspect_argv(workdir, out, *options):
    return ["inspect", str(workdir / "img.tif"), "-m", str(workdir / "m.safetensors"), "-o", str(out), *options]


def test_inspect_writes_the_maps_plots_and_summary(workdir, tmp_path, capsys):
    out = tmp_path / "inside"
    assert main([*inspect_argv(workdir, out, "--layers", "4", "2"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    assert summary == json.loads((out / "summary.json").read_text())
    assert summary["layers"] == 4 and summary["experts"] == 4 and summary["pca_layers"] == [2, 4]
    assert summary["outputs"] == {"folder": str(out), "files": FILES}
    usage = np.array(summary["expert_usage"])
    assert usage.shape == (4, 4) and np.allclose(usage.sum(1), 1, atol=1e-5)
    tokens = (8, 4, 5)  # 16 x 64 x 70 voxels in (2, 16, 16) patches, the last x token overhanging
    assert summary["token_grid"]["shape"] == list(tokens)
    entropy = read_image(out / "routing_entropy.tif")
    assert entropy.data.shape == (4, *tokens) and entropy.voxel_size == pytest.approx(TOKEN)
    assert np.allclose(entropy.data.mean(axis=(1, 2, 3)), summary["mean_entropy_per_layer"], atol=1e-6)
    dominant = read_image(out / "dominant_expert.tif").data
    shares = np.stack([read_image(out / f"expert_usage_layer{n}.tif").data for n in range(1, 5)])
    assert np.array_equal(dominant, shares.argmax(1)) and np.allclose(shares.sum(1), 1, atol=1e-5)
    window = read_image(out / "gate_window.tif").data
    assert np.allclose(window.mean(axis=(1, 2, 3)), summary["mean_gates_per_layer"]["window"], atol=1e-6)
    pca = read_image(out / "pca_layer4.tif")
    assert pca.data.shape == (3, *tokens) and pca.data.dtype == np.uint8 and pca.voxel_size == pytest.approx(TOKEN)


def test_an_earlier_output_is_replaced_and_the_text_report_names_it(workdir, tmp_path, capsys):
    out = tmp_path / "inside"
    assert main(inspect_argv(workdir, out, "--layers", "1")) == 0
    assert main(inspect_argv(workdir, out, "--layers", "3")) == 0
    assert (out / "pca_layer3.tif").exists() and not (out / "pca_layer1.tif").exists()
    text = capsys.readouterr().out
    assert "4 layers x 4 experts" in text and f"wrote {out}/: routing_entropy.tif" in text


@pytest.mark.parametrize(
    "argv,message",
    [
        (["inspect", "missing.tif", "-m", "M", "-o", "out"], "does not exist"),
        (["inspect", "FLAT2D", "-m", "M", "-o", "out"], "the image is 2D"),
        (["inspect", "IMG", "-m", "M", "-o", "out", "--layers", "5"], "layer 5 is out of range"),
        (["inspect", "IMG", "-m", "M", "-o", "out", "--layers", "0"], "expected a positive integer"),
        (["inspect", "IMG", "-m", "PICKLED", "-o", "out"], "pickle"),
        (["inspect", "IMG", "-m", "PLAIN", "-o", "out"], "has no bright4b model card"),
        (["inspect", "IMG", "-m", "no-such-model", "-o", "out"], "unknown model"),
        (["inspect", "IMG", "-m", "M", "-o", "taken"], "holds other files"),
        (["inspect", "IMG", "-m", "M", "-o", "a_file.txt"], "it is a file"),
        (["inspect", "IMG", "-m", "M", "-o", "out", "--channel", "-1"], "--channel must be 0 or more"),
        (["inspect", "IMG", "-m", "M", "-o", "out", "--overlap", "1"], "overlap must be"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(workdir, tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    (tmp_path / "a_file.txt").write_text("mine")
    names = {
        "M": workdir / "m.safetensors",
        "PICKLED": workdir / "pickled.safetensors",
        "PLAIN": workdir / "plain.safetensors",
        "IMG": workdir / "img.tif",
        "FLAT2D": workdir / "flat2d.tif",
    }
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main([str(names.get(a, a)) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert [line for line in err if "error:" in line] == err[-1:] and message in err[-1], err
    assert not any("Traceback" in line for line in err)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_the_input_inside_the_output_folder_is_refused(workdir, tmp_path, capsys):
    out = tmp_path / "inside"
    out.mkdir()
    (out / "summary.json").write_text("{}")  # looks like an earlier output, but holds the image
    write_tiff(out / "img.tif", np.zeros((4, 64, 64), np.uint16), VOXEL)
    assert main(["inspect", str(out / "img.tif"), "-m", str(workdir / "m.safetensors"), "-o", str(out)]) == 2
    assert "would be replaced" in capsys.readouterr().err and (out / "img.tif").exists()


def test_a_preset_warns_that_its_routing_means_nothing(workdir, tmp_path, capsys):
    assert main(["inspect", str(workdir / "img.tif"), "-m", "nano", "-o", str(tmp_path / "out"), "--json"]) == 0
    captured = capsys.readouterr()
    assert "random weights" in captured.err and json.loads(captured.out)["model"] == "nano"


def test_inspect_with_truth_reports_expert_usage_per_structure(workdir, tmp_path, capsys):
    labels = np.zeros((16, 64, 70), np.uint8)
    labels[:, :32] = 2  # nuclei in one half
    write_tiff(tmp_path / "truth.tif", labels, VOXEL)
    out = tmp_path / "inside"
    argv = inspect_argv(workdir, out, "--truth", str(tmp_path / "truth.tif"), "--json")
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    report = summary["per_structure"]
    assert report["structures"] == ["outside", "nuclei"] and len(report["layers"]) == 4
    for layer in report["layers"]:
        assert all(abs(sum(u) - 1) < 1e-3 for u in layer["usage"].values()) and layer["mutual_information_bits"] >= 0
    assert (out / "expert_usage_by_structure.png").is_file()
    write_tiff(tmp_path / "bad.tif", labels + 7, VOXEL)
    bad = inspect_argv(workdir, tmp_path / "other", "--truth", str(tmp_path / "bad.tif"))
    assert main(bad) == 2
    assert "structure labels must be 0..4" in capsys.readouterr().err
