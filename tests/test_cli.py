import json
import subprocess
import sys

import pytest
import torch

from napari_bright4b.cli import main
from napari_bright4b.models.bright4b import Bright4B
from napari_bright4b.models.presets import PRESETS
from napari_bright4b.models.registry import resolve
from tests.models.test_checkpoint import rewrite_card
from tests.models.test_registry import save_nano


@pytest.mark.parametrize("name", list(PRESETS))
def test_info_reports_parameter_counts_per_component(name, capsys, models_dir):
    assert main(["info", name, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    preset = PRESETS[name]
    with torch.device("meta"):
        model = Bright4B(preset.config, preset.head)
    assert info["params"] == sum(p.numel() for p in model.parameters()) == sum(info["components"].values())
    assert info["components"]["head"] == sum(p.numel() for p in model.head.parameters())


def test_info_on_a_checkpoint_prints_its_card(capsys, models_dir):
    save_nano(models_dir / "mine.safetensors")
    assert main(["info", "mine"]) == 0
    out = capsys.readouterr().out
    assert "mine (user)" in out and "voxel_size" in out and "total" in out


def test_info_shows_the_default_cuts_and_views_of_bundled_models(capsys):
    assert main(["info", "bright4b-nano-organelles"]) == 0
    assert f"thresholds   {resolve('bright4b-nano-organelles').card.thresholds}" in capsys.readouterr().out
    assert main(["info", "bright4b-nano-deblur"]) == 0
    out = capsys.readouterr().out
    assert "views        8" in out and "corrects" not in out
    assert main(["info", "bright4b-nano-deblur-rl"]) == 0
    assert "corrects     by a factor within 1/20-20" in capsys.readouterr().out


def test_a_reader_that_stops_early_gets_no_traceback():
    code = "import sys; from napari_bright4b.cli import main; sys.exit(main(['info', 'full-4b']))"
    reader = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader.stdout.close()  # gone before the command prints, as in `bright4b info M | true`
    errors = reader.stderr.read().decode()
    assert reader.wait() in (0, 141) and "Traceback" not in errors, errors


def test_models_lists_user_checkpoints(capsys, models_dir):
    save_nano(models_dir / "mine.safetensors")
    assert main(["models", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert any(m["name"] == "mine" and m["source"] == "user" for m in listing["models"])
    assert listing["presets"] == list(PRESETS)


def test_info_keeps_the_registry_name_and_reaches_dotted_names(capsys, models_dir):
    save_nano(models_dir / "nuclei.v2.safetensors", name="card-name")
    assert main(["info", "nuclei.v2", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["name"] == "nuclei.v2" and info["card_name"] == "card-name"


def test_bad_input_exits_2_with_one_line(tmp_path, models_dir):
    evil = tmp_path / "model.pt"
    evil.write_bytes(b"\x80\x04junk")
    good = save_nano(tmp_path / "good.safetensors")
    broken = rewrite_card(good, tmp_path / "broken.safetensors", lambda c: c["config"].update(kv_heads=0))
    for args in (["info", "nope"], ["info", str(evil)], ["info", str(broken)], ["info"], ["frobnicate"]):
        result = subprocess.run(
            [sys.executable, "-m", "napari_bright4b.cli", *args],
            capture_output=True,
            text=True,
            env={"BRIGHT4B_MODELS_DIR": str(models_dir), "PATH": ""},
        )
        assert result.returncode == 2, args
        assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr


def test_listing_and_info_never_import_torch(models_dir):
    code = "import sys; from napari_bright4b.cli import main; main(['models']); main(['info', 'full-4b'])"
    code += "; sys.exit(3 if 'torch' in sys.modules else 0)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
