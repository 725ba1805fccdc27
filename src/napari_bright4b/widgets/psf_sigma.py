"""The Run tab's **PSF sigma** row: the microscope's PSF as a Gaussian's standard deviations
(z, y, x, um), for a deblurring model that refines Richardson-Lucy."""

from __future__ import annotations

from qtpy.QtWidgets import QDoubleSpinBox, QHBoxLayout, QWidget

DEFAULT_UM = (2.0, 1.0, 1.0)


class PsfSigma(QWidget):
    """Three spin boxes in um; enabled only for a model whose card asks for a PSF."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.boxes = [QDoubleSpinBox() for _ in range(3)]
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for box, value in zip(self.boxes, DEFAULT_UM):
            box.setRange(0.01, 100.0)
            box.setSingleStep(0.1)
            box.setValue(value)
            box.setSuffix(" um")
            box.setToolTip(
                "the PSF's standard deviation along z, y and x: this model deconvolves with it "
                "(Richardson-Lucy), then refines the result; within 30% is close enough"
            )
            row.addWidget(box)

    def sigma_um(self) -> tuple[float, float, float]:
        return tuple(box.value() for box in self.boxes)

    def options(self, card) -> dict:
        """``{"psf_sigma": (z, y, x) um}`` for a model of ``card`` that refines Richardson-Lucy, else ``{}``."""
        return {"psf_sigma": self.sigma_um()} if card is not None and card.deconvolution else {}
