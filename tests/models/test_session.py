import gc
import traceback
import weakref

import pytest
import torch

from napari_bright4b.errors import BadInputError, Cancelled
from napari_bright4b.models.session import ModelSession, PresetWarning


def test_a_session_holds_the_model_on_the_resolved_device_and_releases_it_on_leaving():
    with ModelSession("bright4b-nano-organelles", "cpu") as session:
        assert session.device == torch.device("cpu") and session.device_note is None
        assert session.card.name == "bright4b-nano-organelles" and not session.model.training
        held = weakref.ref(session.model)
    assert session.model is None
    gc.collect()
    assert held() is None


def test_an_expected_error_leaves_without_the_frames_that_hold_the_model():
    def run(model):
        raise Cancelled("cancelled")

    with pytest.raises(Cancelled) as caught:
        with ModelSession("nano", "cpu") as session:
            held = weakref.ref(session.model)
            run(session.model)
    assert "run" not in [frame.name for frame in traceback.extract_tb(caught.value.__traceback__)]
    assert held() is None  # freed at once, before any garbage collection


def test_a_model_of_another_task_and_an_unknown_device_are_refused():
    with pytest.raises(BadInputError, match="is a segment model, not a classify model"):
        ModelSession("bright4b-nano-organelles", "cpu", task="classify")
    with pytest.raises(BadInputError, match="unknown device 'gpu'"):
        ModelSession("bright4b-nano-organelles", "gpu")


def test_a_preset_warns_that_its_weights_are_random_unless_quiet():
    with pytest.warns(PresetWarning, match="random weights"):
        ModelSession("nano", "cpu", quiet=False).release()
