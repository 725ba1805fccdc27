"""napari dock widgets: the only package that imports napari or Qt.

:class:`Bright4BWidget` is one dock with three tabs: Model (pick a model, see its card,
pick a device, estimate memory and time), Run (layer, task, tiles, threshold, labels;
runs in a worker with progress and cancel) and Slices (per-slice numbers, plot and table).
"""

from .dock import Bright4BWidget

__all__ = ["Bright4BWidget"]
