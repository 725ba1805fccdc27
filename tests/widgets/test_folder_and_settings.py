"""Run on folder and Save settings in a real viewer: one output per good file, a table naming
the failure, and settings the CLI reads back."""

import csv
import json

import numpy as np

from napari_bright4b.cli import main
from napari_bright4b.data.io import read_image
from napari_bright4b.data.tiff import write_tiff
from napari_bright4b.run_settings import read_settings
from napari_bright4b.widgets.settings_button import SettingsButton

MODEL = "bright4b-nano-organelles"


def test_run_on_folder_writes_two_outputs_and_a_table_that_names_the_broken_file(dock, qtbot, tmp_path):
    folder = tmp_path / "stacks"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.tif", "b.tif"):
        write_tiff(folder / name, rng.normal(1000, 50, (8, 48, 48)).astype(np.float32), (0.29, 0.216, 0.216))
    (folder / "c.tif").write_bytes(b"broken")
    dock.runner.folder.run(folder)
    qtbot.waitUntil(lambda: not dock.runner.busy, timeout=60_000)

    out = folder / f"bright4b-{MODEL}"
    assert sorted(p.name for p in out.iterdir()) == ["a_masks.tif", "b_masks.tif", "results.csv"]
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [(r["input"].rsplit("/", 1)[-1], r["status"]) for r in rows] == [
        ("a.tif", "ok"),
        ("b.tif", "ok"),
        ("c.tif", "failed"),
    ]
    assert "could not be read as TIFF" in rows[2]["error"]
    masks = read_image(out / "a_masks.tif")
    assert masks.labels and masks.data.shape == (3, 8, 48, 48) and masks.voxel_size == (0.29, 0.216, 0.216)
    assert masks.provenance["model"] == MODEL and masks.provenance["settings"]["views"] == dock.runner.view_count()
    assert "2 of 3 images done" in dock.runner.status.text() and "c.tif" in dock.runner.status.text()


def test_saved_run_settings_give_the_cli_the_same_options(dock, tmp_path, capsys):
    dock.runner.automatic.setChecked(False)
    dock.runner.threshold.setValue(35)
    dock.runner.overlap.setValue(0.5)
    (button,) = dock.runner.findChildren(SettingsButton)
    written = button.save(tmp_path / "run.json")
    saved = json.loads(written.read_text())
    assert saved["task"] == "segment" and saved["model"] == MODEL and saved["threshold"] == 0.35
    assert saved["overlap"] == 0.5 and saved["tile"] == list(dock.runner.tile_size())
    image = tmp_path / "img.tif"
    write_tiff(image, np.random.default_rng(0).normal(1000, 50, (8, 48, 48)).astype(np.float32), (0.29, 0.216, 0.216))
    assert main(["segment", str(image), "-o", str(tmp_path / "m.tif"), "--settings", str(written), "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)["thresholds"].values()) == {0.35}


def test_saved_finetune_settings_are_what_the_cli_finetune_reads(panel, tmp_path):
    panel.form.mode.setCurrentIndex(panel.form.mode.findData("head"))
    panel.form.budget.setValue(30)
    panel.form.adapt.setValue(5)
    (button,) = panel.findChildren(SettingsButton)
    task, options = read_settings(button.save(tmp_path / "ft.json"))
    assert task == "finetune" and options["mode"] == "head" and options["time_budget"] == 30
    assert options["adapt"] == 5
    assert options["model"] == panel.chosen[-1] and "steps" not in options


def test_a_second_run_or_a_folder_run_while_one_runs_is_refused_not_interleaved(dock, qtbot, tmp_path, notifications):
    folder = tmp_path / "stacks"
    folder.mkdir()
    write_tiff(folder / "a.tif", np.zeros((8, 48, 48), np.float32) + np.arange(48), (0.29, 0.216, 0.216))
    dock.runner.run_button.click()
    assert dock.runner.busy and not dock.runner.run_button.isEnabled()
    worker = dock.runner.background._worker
    dock.runner.run()  # refused: the running one goes on alone
    dock.runner.folder.run(folder)
    assert dock.runner.background._worker is worker
    assert any("a run is under way" in message for message in notifications())
    qtbot.waitUntil(lambda: not dock.runner.busy, timeout=60_000)
    assert not (folder / f"bright4b-{MODEL}").exists()
