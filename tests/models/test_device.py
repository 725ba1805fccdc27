import pytest
import torch

from napari_bright4b.errors import BadInputError
from napari_bright4b.models.device import available_devices, resolve_device


def test_auto_picks_the_best_available_device_and_cpu_is_always_there():
    assert available_devices()[-1] == "cpu"
    assert str(resolve_device("auto").device) == available_devices()[0]
    assert resolve_device("cpu") == resolve_device(" CPU ")
    assert resolve_device("cpu").note is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_gpu_falls_back_to_the_cpu_and_says_so():
    choice = resolve_device("cuda:1")
    assert choice.device == torch.device("cpu") and "CUDA is not available" in choice.note


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "tpu", ""])
def test_unknown_devices_are_refused(bad):
    with pytest.raises(BadInputError, match="use auto, cpu, cuda, cuda:N or mps"):
        resolve_device(bad)
