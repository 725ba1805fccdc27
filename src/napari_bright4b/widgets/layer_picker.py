"""A list of the viewer's layers of some kinds that keeps up with the viewer, and the chosen
one, checked: the image to run a model on, or the Labels layer to paint strokes in."""

from __future__ import annotations

from collections.abc import Callable

from napari.layers import Image, Labels
from qtpy.QtWidgets import QComboBox, QWidget

from ..errors import BadInputError
from ..layers.layer_data import LayerInput, layer_input
from ..models.card import ModelCard

NO_IMAGE = "no image layer is selected; open an image (e.g. File > Open Sample > Bright-4B)"


class LayerPicker(QComboBox):
    """The viewer's layers of ``kinds`` that ``accept`` takes (default: Image and Labels
    layers, Labels only to be told why they cannot be used), updated as layers are added,
    removed or renamed, a layer of kind ``preferred`` chosen first; ``currentTextChanged``
    fires when the choice changes. ``missing`` is the error when nothing is chosen."""

    def __init__(
        self,
        viewer,
        parent: QWidget | None = None,
        *,
        kinds: tuple = (Image, Labels),
        preferred: type = Image,
        accept: Callable[[object], bool] | None = None,
        missing: str = NO_IMAGE,
    ):
        super().__init__(parent)
        self.viewer, self.kinds, self.preferred, self.accept, self.missing = viewer, kinds, preferred, accept, missing
        viewer.layers.events.inserted.connect(self._on_inserted)
        viewer.layers.events.removed.connect(self.refresh)
        for layer in viewer.layers:
            layer.events.name.connect(self.refresh)
        self.refresh()

    def layer(self):
        """The chosen napari layer (raises :class:`BadInputError` when there is none)."""
        name = self.currentText()
        if name not in self.viewer.layers:
            raise BadInputError(self.missing)
        return self.viewer.layers[name]

    def source(self, card: ModelCard | None) -> LayerInput:
        """The chosen layer, checked for the model of ``card`` (raises :class:`BadInputError`
        with the reason)."""
        if card is None:
            raise BadInputError("no model is selected; pick one in the Model tab")
        layer = self.layer()
        kind = "image" if isinstance(layer, Image) else "labels" if isinstance(layer, Labels) else type(layer).__name__
        return layer_input(
            layer.name,
            kind,
            layer.data,
            layer.scale,
            layer.translate,
            card.voxel_size,
            rgb=getattr(layer, "rgb", False),
            multiscale=layer.multiscale,
            contrast_limits=getattr(layer, "contrast_limits", None),
            colormap=getattr(getattr(layer, "colormap", None), "name", None),
        )

    def refresh(self, *_) -> None:
        """List the layers again, keeping the choice (else the first of the preferred kind)."""
        current = self.currentText()
        layers = [
            layer
            for layer in self.viewer.layers
            if isinstance(layer, self.kinds) and (self.accept is None or self.accept(layer))
        ]
        names = [layer.name for layer in layers]
        images = [layer.name for layer in layers if isinstance(layer, self.preferred)]
        self.blockSignals(True)
        self.clear()
        self.addItems(names)
        keep = current if current in names else (images[0] if images else None)
        if keep is not None:
            self.setCurrentText(keep)
        self.blockSignals(False)
        if self.currentText() != current:
            self.currentTextChanged.emit(self.currentText())

    def _on_inserted(self, event) -> None:
        event.value.events.name.connect(self.refresh)
        self.refresh()
