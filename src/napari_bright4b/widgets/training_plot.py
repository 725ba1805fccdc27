"""The Fine-tune tab's plot: training loss per step and held-out balanced accuracy per
scoring, the kept step dashed, in the colours of the viewer's napari theme. It keeps the
reports of the latest fine-tune and redraws as they come, at most every ``REDRAW_S``."""

from __future__ import annotations

import time

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

from .theme import style_axes, theme_colours

ACCURACY_COLOR = "#f39c12"
LOSS_COLOR = "#95a5a6"
REDRAW_S = 0.5


class TrainingPlot(FigureCanvasQTAgg):
    """A canvas for the reports of a fine-tune (:class:`~..training.finetune.Report`)."""

    def __init__(self, viewer):
        self.viewer = viewer
        self.figure = Figure(figsize=(4, 2.4), layout="constrained")
        super().__init__(self.figure)
        self.setMinimumHeight(180)
        self.loss = self.figure.subplots()
        self.accuracy = self.loss.twinx()
        self.reports: list = []
        self._drawn = 0.0
        viewer.events.theme.connect(lambda *_: self.draw_reports())
        self.draw_reports()

    def clear(self) -> None:
        """Forget the reports (a new fine-tune starts)."""
        self.reports = []
        self.draw_reports()

    def add(self, report) -> None:
        """Keep ``report``; redraw when it was scored or the last drawing is ``REDRAW_S`` old."""
        self.reports.append(report)
        if time.perf_counter() - self._drawn > REDRAW_S or report.held_out is not None:
            self.draw_reports()

    def draw_reports(self) -> None:
        """Loss per step (left axis); held-out balanced accuracy, which picks the kept step
        (dashed), per scoring (right axis)."""
        self._drawn = time.perf_counter()
        reports = self.reports
        background, text = theme_colours(self.viewer)
        self.figure.set_facecolor(background)
        for axes, label in ((self.loss, "training loss"), (self.accuracy, "held-out balanced accuracy")):
            style_axes(axes, background, text, label)
        self.loss.set_xlabel("step", color=text)
        self.accuracy.yaxis.tick_right()  # clearing a twin axis moves it to the left
        self.accuracy.yaxis.set_label_position("right")
        self.accuracy.set_ylim(0, 1.02)
        if reports:
            self.loss.plot([r.step for r in reports], [r.loss for r in reports], color=LOSS_COLOR, lw=1)
            scored = [r for r in reports if r.held_out is not None]
            steps = [r.step for r in scored]
            self.accuracy.plot(steps, [r.held_out.balanced_accuracy for r in scored], "o-", color=ACCURACY_COLOR)
            if reports[-1].best is not None:
                self.loss.axvline(reports[-1].best_step, color=text, linestyle="--", lw=1)
        self.accuracy.yaxis.label.set_color(ACCURACY_COLOR)
        self.draw_idle()
