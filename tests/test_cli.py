import json
import subprocess
import sys

import pytest

from napari_bright4b.cli import main
from napari_bright4b.models.config import PRESETS, total_parameters
from tests.models.test_registry import save_nano


@pytest.mark.parametrize("name", list(PRESETS))
def test_info_reports_the_formula_parameter_counts(name, capsys, models_dir):
    assert main(["info", name, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    preset = PRESETS[name]
    assert info["params"] == total_parameters(preset.config, preset.head) == sum(info["components"].values())


def test_info_on_a_checkpoint_prints_its_card(capsys, models_dir):
    save_nano(models_dir / "mine.safetensors")
    assert main(["info", "mine"]) == 0
    out = capsys.readouterr().out
    assert "mine (user)" in out and "voxel_size" in out and "total" in out


def test_models_lists_user_checkpoints(capsys, models_dir):
    save_nano(models_dir / "mine.safetensors")
    assert main(["models", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert any(m["name"] == "mine" and m["source"] == "user" for m in listing["models"])
    assert listing["presets"] == list(PRESETS)


def test_bad_input_exits_2_with_one_line(tmp_path, models_dir):
    evil = tmp_path / "model.pt"
    evil.write_bytes(b"\x80\x04junk")
    for args in (["info", "nope"], ["info", str(evil)], ["info"], ["frobnicate"]):
        result = subprocess.run(
            [sys.executable, "-m", "napari_bright4b.cli", *args],
            capture_output=True,
            text=True,
            env={"BRIGHT4B_MODELS_DIR": str(models_dir), "PATH": ""},
        )
        assert result.returncode == 2, args
        assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr
