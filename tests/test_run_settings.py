"""Settings files: validated with errors that name the key, and the CLI reads them with its flags winning."""

import json

import pytest

from napari_bright4b.cli import main
from napari_bright4b.data.io import read_image
from napari_bright4b.errors import BadInputError
from napari_bright4b.run_settings import check_settings, read_settings, settings_of, write_settings
from tests.cli.test_predict_commands import workdir  # noqa: F401  (the fixture)


def settings(**values):
    return {"format": "bright4b-settings", "version": 1, "task": "segment", **values}


def test_settings_round_trip_and_leave_out_what_the_task_does_not_know(tmp_path):
    options = {"model": "m", "tile": (8, 64, 64), "overlap": 0.5, "views": 4, "threshold": 0.3, "instances": True}
    path = write_settings(tmp_path / "run.json", "segment", {**options, "mode": "full", "image": ["x.tif"]})
    task, read = read_settings(path)
    assert task == "segment" and read == {**options, "tile": [8, 64, 64]}
    assert settings_of("finetune", {"classes": "a, b", "mode": "instant"})["classes"] == ["a", "b"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"format": "other"}, "not a bright4b settings file"),
        (settings(version=2), "settings version 2"),
        (settings(task="paint"), '"task" must be one of'),
        (settings(mode="full"), "segment has no setting 'mode'"),
        (settings(overlap=1.0), "'overlap' must be a fraction in"),
        (settings(tile=[8, 64]), "'tile' must be a list of 3 values"),
        (settings(views=3), "'views' must be one of 1, 2, 4, 8"),
        (settings(threshold=1.5), "'threshold' must be a number in"),
        (settings(instances="yes"), "'instances' must be true or false"),
    ],
)
def test_bad_settings_name_the_key_and_what_would_work(values, message):
    with pytest.raises(BadInputError, match=message):
        check_settings(values, "run.json")


def test_the_cli_reads_settings_flags_win_and_the_output_records_them(workdir, tmp_path, capsys):  # noqa: F811
    path = tmp_path / "run.json"
    path.write_text(json.dumps(settings(model=str(workdir / "seg.safetensors"), threshold=0.3, tile=[8, 48, 48])))
    out = tmp_path / "masks.tif"
    argv = ["segment", str(workdir / "img.tif"), "-o", str(out), "--settings", str(path), "--json"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["thresholds"] == {"nuclei": 0.3, "nucleoli": 0.3}
    recorded = read_image(out).provenance
    assert recorded["settings"]["threshold"] == 0.3 and recorded["settings"]["tile"] == [8, 48, 48]
    assert main([*argv, "--threshold", "0.6"]) == 0
    assert json.loads(capsys.readouterr().out)["thresholds"] == {"nuclei": 0.6, "nucleoli": 0.6}
    assert main(["classify", str(workdir / "img.tif"), "--settings", str(path)]) == 2
    assert "holds segment settings; use it with `bright4b segment`" in capsys.readouterr().err
