"""Learning from strokes painted in a Labels layer: instant mode (:mod:`.instant`), a
classifier on per-voxel features, and the deep fine-tune (:mod:`.run`), with what they
build on: the painted classes and held-out strokes (:mod:`.painted`, :mod:`.held_out`),
what of the network trains (:mod:`.adaptation`), the class priors (:mod:`.priors`), the
instant classifier as teacher (:mod:`.teacher`) or as the base's judge
(:mod:`.base_agreement`), and a simulated person painting (:mod:`.strokes`).

The deep fine-tune's names below are imported on first use, so that :mod:`.modes` stays
torch-free: the CLI lists the modes before it imports torch.
"""

from importlib import import_module

_HOMES = {
    "FinetuneSettings": ".settings",
    "FinetuneResult": ".run",
    "finetune": ".run",
    "Preview": ".progress",
    "Report": ".progress",
    "Prediction": ".predict",
    "predict_painted": ".predict",
    "check_output": ".output",
    "default_output": ".output",
}

__all__ = list(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(import_module(_HOMES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
