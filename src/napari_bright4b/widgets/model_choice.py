"""The model choice the dock's tabs share: another tab sees the Model tab's chosen model and
can make a model (e.g. a fine-tuned checkpoint) the chosen one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..models.card import ModelCard


@dataclass(frozen=True)
class ModelChoice:
    """The model choice the tab shares: ``current()`` gives the chosen model's spec and card,
    ``select(spec)`` makes a model (a checkpoint path) the chosen one."""

    current: Callable[[], tuple[str | None, ModelCard | None]]
    select: Callable[[str], None]
    device: Callable[[], str] = lambda: "auto"


def model_panel_choice(panel) -> ModelChoice:
    """The :class:`ModelChoice` of the dock's Model tab (a ``ModelPanel``)."""

    def select(spec: str) -> None:
        index = panel.models.findData(str(spec))
        if index >= 0:
            panel.models.setCurrentIndex(index)
        else:
            panel.add_model_file(spec)

    return ModelChoice(lambda: (panel.spec, panel.card), select, lambda: panel.device)
