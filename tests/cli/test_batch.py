"""Several inputs in one command: outputs named from the inputs, bad files reported, a results table."""

import csv
import json

import numpy as np
import pytest

from napari_bright4b.cli import main
from napari_bright4b.data.batch import check_distinct, expand, is_many
from napari_bright4b.data.io import read_image
from napari_bright4b.data.tiff import write_tiff
from napari_bright4b.errors import BadInputError
from napari_bright4b.models.config import HeadConfig
from tests.cli.test_predict_commands import VOXEL, save_model


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.tif", "b.tif"):
        write_tiff(folder / name, rng.integers(0, 3000, size=(8, 40, 40)).astype(np.uint16), VOXEL)
    (folder / "broken.tif").write_bytes(b"not a tiff")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_inputs_expand_from_files_folders_and_globs_in_order_each_once(inputs):
    a, b, broken = inputs / "a.tif", inputs / "b.tif", inputs / "broken.tif"
    assert expand([inputs]) == [a, b, broken]
    assert expand([str(inputs / "*.tif"), str(b)]) == [a, b, broken]
    assert is_many([inputs]) and is_many([a, b]) and is_many([str(inputs / "?.tif")]) and not is_many([a])
    with pytest.raises(BadInputError, match="no images in"):
        expand([str(inputs / "*.zarr")])
    other = inputs / "sub"
    other.mkdir()
    write_tiff(other / "a.tif", np.zeros((2, 4, 4), np.uint8), None)
    with pytest.raises(BadInputError, match="would write the same outputs"):
        check_distinct(expand([inputs, other]))


def test_segment_over_a_folder_writes_one_output_per_good_input_and_a_table_that_names_the_failure(
    inputs, tmp_path, capsys
):
    model = save_model(tmp_path / "seg.safetensors", HeadConfig(class_names=("nuclei",)))
    out = tmp_path / "out"
    code = main(["segment", str(inputs), "-m", str(model), "-o", str(out), "--prob", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 1  # one input failed
    summary = json.loads(captured.out)
    assert summary["failed"] == 1 and "broken.tif could not be read" in captured.err
    assert sorted(p.name for p in out.iterdir()) == [
        "a_masks.tif",
        "a_probabilities.tif",
        "b_masks.tif",
        "b_probabilities.tif",
        "results.csv",
    ]
    masks = read_image(out / "a_masks.tif")
    assert masks.data.shape == (1, 8, 40, 40) and masks.voxel_size == pytest.approx(VOXEL)
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [(r["input"].split("/")[-1], r["status"]) for r in rows] == [
        ("a.tif", "ok"),
        ("b.tif", "ok"),
        ("broken.tif", "failed"),
    ]
    assert "not a TIFF" in rows[2]["error"] and float(rows[0]["nuclei fraction"]) >= 0


def test_a_batch_refuses_a_file_as_its_output_folder_and_a_model_of_another_task_once(inputs, tmp_path, capsys):
    assert main(["segment", str(inputs), "-m", "bright4b-nano-organelles", "-o", str(tmp_path / "x.tif")]) == 2
    assert "names a folder" in capsys.readouterr().err
    assert main(["classify", str(inputs / "a.tif"), str(inputs / "b.tif"), "-m", "bright4b-nano-organelles"]) == 2
    assert capsys.readouterr().err.count("is a segment model") == 1


def test_outputs_are_named_from_the_input_without_its_known_suffixes():
    from napari_bright4b.data.batch import stem

    assert [stem(n) for n in ("cells.ome.tif", "exp.1.tif", "2024.05.01_a.TIF", "sheet.nii.gz", "big.ome.zarr")] == [
        "cells",
        "exp.1",
        "2024.05.01_a",
        "sheet",
        "big",
    ]
