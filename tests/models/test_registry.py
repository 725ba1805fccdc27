import pytest

from napari_bright4b.errors import BadInputError, CheckpointError
from napari_bright4b.models.card import ModelCard
from napari_bright4b.models.checkpoint import build_model, save_checkpoint
from napari_bright4b.models.presets import PRESETS
from napari_bright4b.models.registry import list_models, resolve, user_models_dir


def save_nano(path, name="mine"):
    preset = PRESETS["nano"]
    card = ModelCard(name=name, config=preset.config, head=preset.head)
    return save_checkpoint(build_model(card), card, path)


def test_user_folder_follows_the_environment(models_dir):
    assert user_models_dir() == models_dir
    save_nano(models_dir / "mine.safetensors")
    (models_dir / "broken.safetensors").write_bytes(b"junk")
    entries = {e.name: e for e in list_models() if e.source == "user"}
    assert entries["mine"].card.head.task == "segment" and entries["mine"].error is None
    assert "truncated" in entries["broken"].error or "header" in entries["broken"].error


def test_resolve_by_name_path_and_preset(models_dir, tmp_path):
    save_nano(models_dir / "mine.safetensors")
    assert resolve("mine").source == "user"
    elsewhere = save_nano(tmp_path / "elsewhere.safetensors", name="elsewhere")
    by_path = resolve(str(elsewhere))
    assert by_path.source == "path" and by_path.card.name == "elsewhere"
    assert resolve("nano").is_preset


def test_resolve_refuses_unknown_names_and_missing_paths(models_dir):
    with pytest.raises(BadInputError, match="unknown model 'nope'.*nano"):
        resolve("nope")
    with pytest.raises(CheckpointError, match="does not exist"):
        resolve("missing/model.safetensors")
    with pytest.raises(BadInputError, match="unknown model"):
        resolve("nano", allow_presets=False)
