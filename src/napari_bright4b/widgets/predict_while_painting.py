"""The Fine-tune tab's "Predict while painting" toggle: an instant classifier
(:mod:`..training.finetune.instant`) refitted after each stroke, off the GUI thread.

The image's features are computed once (in a worker) and kept while the image, its voxel
size and the base model stay the same. Each stroke restarts a short timer; when it fires,
a worker refits the classifier on every painted voxel and predicts the slab around the
slice in view first, then the rest of the volume slab by slab. Each slab updates the
prediction and uncertainty layers in place. A stroke painted meanwhile cancels the running
refit (at its next slab, or between feature channels) and starts a new one once it stops;
the worker reads no widget state, only its cancel token.
"""

from __future__ import annotations

import numpy as np
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QWidget

from ..errors import BadInputError, Cancelled
from ..features.voxel_features import FeatureSpec, VoxelFeatures, compute_features
from ..inference.engine import CancelToken
from ..layers.layer_data import painted_prediction_layers
from ..training.finetune.instant import InstantModel, InstantSettings
from ..training.finetune.painted import check_labels, painted_classes
from .finetune_run import current_z
from .layers import run_tag, show_layers

MODEL = "instant"  # the model part of the result layers' names
DEBOUNCE_MS = 400
SLAB = 8  # slices predicted per step


def slab_order(depth: int, centre: int, slab: int = SLAB) -> list[slice]:
    """Slabs of ``slab`` slices covering ``range(depth)``: the one around ``centre`` first,
    then the others by distance from it."""
    first = int(np.clip(centre - slab // 2, 0, max(0, depth - slab)))
    rest = [slice(s, min(s + slab, depth)) for s in range(first + slab, depth, slab)]
    rest += [slice(max(0, s - slab), s) for s in range(first, 0, -slab)]
    rest.sort(key=lambda z: abs(z.start - first))
    return [slice(first, min(first + slab, depth)), *rest]


class PredictWhilePainting(QWidget):
    """The toggle and its status line, for ``panel`` (a :class:`~.finetune_panel.FinetunePanel`:
    its form's image and Labels layer, its class names and its model choice)."""

    def __init__(self, viewer, panel, parent: QWidget | None = None):
        super().__init__(parent)
        self.viewer, self.panel = viewer, panel
        self.toggle = QCheckBox("Predict while painting")
        self.toggle.setToolTip("Refit an instant classifier on the image's features after each stroke")
        self.status = QLabel()
        self.status.setWordWrap(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.toggle)
        layout.addWidget(self.status, 1)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(DEBOUNCE_MS)
        self.timer.timeout.connect(self.refit)
        self.toggle.toggled.connect(self._on_toggled)
        self.model: InstantModel | None = None
        self.fits = 0  # refits that predicted the whole volume
        self._features: tuple[tuple, object, VoxelFeatures] | None = None  # (key, the image's data, features)
        self._worker = self._token = None
        self._stale = False  # painted again while a refit ran
        self._watched = None

    @property
    def busy(self) -> bool:
        return self._worker is not None

    def _on_toggled(self, on: bool) -> None:
        if on:
            self.refit()
        else:
            self.timer.stop()
            self._stale = False
            if self._token is not None:
                self._token.cancel()  # the running refit stops at its next slab

    def watch(self, layer) -> None:
        """Refit after each stroke on ``layer`` (the Labels layer the panel learns from)."""
        if self._watched is not None:
            for event in (self._watched.events.paint, self._watched.events.data):
                event.disconnect(self._on_painted)
        self._watched = layer
        if layer is not None:
            layer.events.paint.connect(self._on_painted)
            layer.events.data.connect(self._on_painted)

    def _on_painted(self, *_) -> None:
        if self.toggle.isChecked():
            self.timer.start()

    def start(self) -> None:
        """Fit now and after every stroke from now on (the Fine-tune button in instant mode);
        bad input is a notification."""
        try:
            self._inputs()
        except BadInputError as err:
            show_error(f"Bright-4B: {err}")
            return
        if self.toggle.isChecked():
            self.refit()
        else:
            self.toggle.setChecked(True)  # refits through _on_toggled

    def _inputs(self):
        """The checked image, strokes and classes, and the model choice."""
        spec, card = self.panel.choice.current()
        source = self.panel.form.image.source(card)
        labels = self.panel.form.labels_layer()
        check_labels(labels.data.shape, source.shape)
        base_names = card.head.class_names if card is not None and card.head.task == "segment" else ()
        classes = painted_classes(np.asarray(labels.data), self.panel.class_names(), base_names)
        return spec, card, source, labels, classes

    def refit(self) -> None:
        """Refit and predict in a worker; while one runs, stop it at its next step and refit
        once it has stopped."""
        if self.busy:
            self._stale = True
            self._token.cancel()
            return
        try:
            spec, card, source, labels, classes = self._inputs()
        except BadInputError as err:
            self.status.setText(str(err))
            return
        base = spec if card is not None and card.head.task == "segment" else None
        key = (source.name, source.voxel_size, base)
        cached = self._features
        if cached is not None and (cached[0] != key or cached[1] is not source.data):
            cached = None
        codes = classes.codes(np.asarray(labels.data))
        z = current_z(self.viewer, source)
        self._stale, self._token = False, CancelToken()
        features = cached[2] if cached else None
        self._worker = create_worker(
            self._work,
            source,
            base,
            features,
            codes,
            classes,
            z,
            self._token,
            _start_thread=False,
            _ignore_errors=True,
        )
        self._worker.yielded.connect(lambda item: self._on_yielded(source, key, classes, item))
        self._worker.errored.connect(self._on_error)
        self._worker.finished.connect(self._on_finished)
        self.status.setText("Computing the image's features…" if features is None else "Refitting…")
        self._worker.start()

    @staticmethod
    def _work(source, base, features, codes, classes, z, token: CancelToken):
        """In the worker: features (if not cached), the fit, then the slabs, the one around
        ``z`` first; stops quietly when ``token`` is cancelled."""
        try:
            if features is None:
                spec = FeatureSpec(base=base)
                features = compute_features(source.in_memory(), source.voxel_size, spec, cancel=token)
                yield "features", features
            fitted = InstantModel.fit(features, codes, classes, InstantSettings())
            yield "model", fitted
            for slab in slab_order(features.shape[0], z):
                if token.cancelled:
                    return
                yield "slab", (slab, *fitted.predict(features, slab))
            yield "done", None
        except Cancelled:
            return

    def _on_yielded(self, source, key, classes, item) -> None:
        kind, value = item
        if kind == "features":
            self._features = (key, source.data, value)
        elif kind == "model":
            self.model = value
        elif kind == "done":
            self.fits += 1
            painted = sum(self.model.classes.voxels)
            kept = ", ".join(a.name for a in self.model.kept)
            kept = f"; the base's {kept} kept (your strokes agree with it)" if kept else ""
            self.status.setText(f"Up to date: fit {self.fits} on {painted:,} painted voxels{kept}")
        else:
            slab, labels, uncertainty = value
            prediction, unsure = self._result_layers(source, classes)
            prediction.data[slab] = labels
            unsure.data[slab] = uncertainty
            prediction.refresh()
            unsure.refresh()
            self.status.setText(f"Predicted slices {slab.start}-{slab.stop - 1}")

    def _result_layers(self, source, classes) -> tuple:
        """This run's prediction and uncertainty layers on ``source``'s grid (found by their
        tag and shape), added empty if the user removed them or none exist yet."""
        tag = (source.name, MODEL, MODEL)
        found = {
            layer.metadata["bright4b"]["output"]: layer
            for layer in self.viewer.layers
            if run_tag(layer) == tag and layer.data.shape == source.shape
        }
        if set(found) != {"prediction", "uncertainty"}:
            labels = np.zeros(source.shape, np.min_scalar_type(max(classes.values)))
            uncertainty = np.zeros(source.shape, np.float32)
            colormap = self._watched.colormap if self._watched is not None else None
            show_layers(
                self.viewer, painted_prediction_layers(source, MODEL, MODEL, labels, uncertainty, colormap), tag
            )
            return self._result_layers(source, classes)
        return found["prediction"], found["uncertainty"]

    def _on_error(self, err) -> None:
        self.status.setText(f"Failed: {err}")
        show_error(f"Bright-4B: {err}")

    def _on_finished(self) -> None:
        self._worker = None
        if self._stale and self.toggle.isChecked():
            self.refit()
