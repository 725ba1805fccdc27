import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    torch.set_num_threads(2)


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    """An empty user model folder (BRIGHT4B_MODELS_DIR) for each test."""
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv("BRIGHT4B_MODELS_DIR", str(folder))
    return folder
