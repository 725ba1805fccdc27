"""Predict while painting, in a real viewer: a stroke starts a refit in a worker thread, and the
prediction and uncertainty layers are updated in place, the slab in view first."""

import threading

import numpy as np

from napari_bright4b.training.finetune import instant
from napari_bright4b.widgets.predict_while_painting import slab_order
from tests.widgets.test_finetune import paint


def test_slab_order_starts_in_view_and_covers_the_volume():
    order = slab_order(30, 14, slab=8)
    assert order[0] == slice(10, 18)
    covered = np.zeros(30, int)
    for z in order:
        covered[z] += 1
    assert (covered == 1).all()
    assert [z.start for z in order[1:3]] == [18, 2]  # nearest slabs next
    assert slab_order(5, 0, slab=8) == [slice(0, 5)]


def test_painting_refits_off_the_gui_thread_and_updates_layers_in_place(panel, viewer, qtbot, monkeypatch):
    threads, slabs = [], []
    fit, predict = instant.InstantModel.fit.__func__, instant.InstantModel.predict

    def recording_fit(cls, *args, **kwargs):
        threads.append(threading.current_thread())
        return fit(cls, *args, **kwargs)

    def recording_predict(self, features, z=slice(None)):
        slabs.append(z)
        return predict(self, features, z)

    monkeypatch.setattr(instant.InstantModel, "fit", classmethod(recording_fit))
    monkeypatch.setattr(instant.InstantModel, "predict", recording_predict)
    layer = paint(panel, panel.truth)
    live = panel.live
    viewer.dims.set_point(0, 8.0)  # slice 8 in view (scale 1 um in z)
    live.toggle.setChecked(True)
    qtbot.waitUntil(lambda: live.fits == 1 and not live.busy, timeout=60_000)
    name = "blobs · instant · prediction"
    prediction, uncertainty = viewer.layers[name], viewer.layers["blobs · instant · uncertainty"]
    assert prediction.metadata["bright4b"]["run"] == "instant" and tuple(prediction.scale) == tuple(layer.scale)
    found = prediction.data == 2
    assert (found & panel.truth).sum() > 0.9 * panel.truth.sum()  # the blobs are found
    assert 0 <= uncertainty.data.min() and uncertainty.data.max() <= 1
    assert threads and all(t is not threading.main_thread() for t in threads)
    assert slabs[0].start <= 8 < slabs[0].stop  # the slab in view first
    assert live.model.classes.names[1] == "blob"  # the base's name for painted value 2, so its classes can be kept

    viewer.layers.remove(uncertainty)  # the user removes a result layer: the next refit brings it back

    before = prediction.data.copy()
    layer.selected_label = 1
    layer.paint((8, 10, 10), 1)  # background right on a blob: a stroke like a user's
    qtbot.waitUntil(lambda: live.fits == 2 and not live.busy, timeout=60_000)
    assert viewer.layers[name] is prediction  # updated in place, not added again
    assert len(threads) == 2 and not np.array_equal(before, prediction.data)
    assert "blobs · instant · uncertainty" in viewer.layers
    assert len([layer for layer in viewer.layers if layer.name == name]) == 1
