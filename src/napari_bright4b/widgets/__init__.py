"""napari dock widgets: the only package that imports napari or Qt.

:class:`Bright4BWidget` is one dock with five tabs: Model (pick a model, see its card,
pick a device, estimate memory and time), Run (layer, task, tiles, threshold, labels;
runs in a worker with progress and cancel), Slices (per-slice numbers, plot and table),
Inside (a look inside the model) and Fine-tune (learn from painted strokes).
"""

from .dock import Bright4BWidget

__all__ = ["Bright4BWidget"]
