import json

import numpy as np
import pytest

from napari_bright4b.cli import main
from napari_bright4b.data.tiff import write_tiff
from napari_bright4b.models.checkpoint import load_checkpoint

VOXEL = (1.0, 0.5, 0.5)


def make_folder(root, pairs=3, shape=(8, 64, 64), classes=2, voxel=VOXEL):
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for index in range(pairs):
        labels = np.zeros(shape, np.uint8)
        for value in range(1, classes + 1):
            z, y, x = rng.integers(1, shape[0] - 1), rng.integers(8, shape[1] - 8), rng.integers(8, shape[2] - 8)
            labels[z - 1 : z + 2, y - 6 : y + 6, x - 6 : x + 6] = value
        image = (labels * 40 + rng.normal(100, 5, shape)).astype(np.float32)
        write_tiff(root / "images" / f"v{index}.tif", image, voxel)
        write_tiff(root / "labels" / f"v{index}.tif", labels, voxel)
    return root


@pytest.mark.parametrize("classes, names", [(1, "cells"), (2, "nuclei,nucleoli")])
def test_train_on_a_folder_of_pairs(tmp_path, capsys, classes, names):
    data = make_folder(tmp_path / "data", classes=classes)
    out = tmp_path / "mine.safetensors"
    argv = ["train", "folder", "--data", str(data), "--classes", names, "-o", str(out), "--steps", "2", "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    card = load_checkpoint(out)[1]
    assert card.name == "mine" and card.voxel_size == pytest.approx(VOXEL)
    expected = tuple(names.split(",")) if classes == 1 else ("background", *names.split(","))
    assert card.head.class_names == expected
    assert card.head.activation == ("sigmoid" if classes == 1 else "softmax")
    assert card.metrics["held_out_seeds"] == [2] and set(card.metrics["structures"]) == set(names.split(","))
    assert summary["held_out"] == card.metrics and card.provenance["pairs"] == ["v0.tif", "v1.tif", "v2.tif"]


def test_folder_input_errors_exit_2_with_one_line(tmp_path, capsys):
    def run(data, *extra, classes="a"):
        argv = ["train", "folder", "--data", str(data), "-o", str(tmp_path / "m.safetensors"), "--steps", "1"]
        assert main(argv + (["--classes", classes] if classes else []) + list(extra)) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        return err

    assert "'images/' and 'labels/'" in run(tmp_path / "nothing")
    assert "--classes" in run(tmp_path, classes=None)
    data = make_folder(tmp_path / "two", classes=2)
    assert "integers 0..1" in run(data, classes="a")
    (data / "labels" / "v1.tif").unlink()
    assert "no labels for v1.tif" in run(data, classes="a,b")
    odd = make_folder(tmp_path / "odd", classes=1)
    write_tiff(odd / "labels" / "v0.tif", np.zeros((8, 64, 60), np.uint8), VOXEL)
    assert "differ in shape" in run(odd)
    bare = make_folder(tmp_path / "bare", classes=1, voxel=None)
    assert "--voxel-size" in run(bare)
    assert main(["train", "organelles", "--data", str(data), "-o", str(tmp_path / "m.safetensors")]) == 2
    assert not (tmp_path / "m.safetensors").exists()
