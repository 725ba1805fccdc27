"""What the Fine-tune tab shows of a fine-tune: the status line per training report and once
the model is saved, the live preview layer, and the prediction and uncertainty layers."""

from __future__ import annotations

from ..layers.layer_data import layer_tuple, painted_prediction_layers
from ..training.finetune import FinetuneResult, Prediction, Report
from .finetune_run import RUN, FinetuneRun


def report_status(report: Report) -> str:
    best = f", best held-out {report.best.balanced_accuracy:.2f} at step {report.best_step}" if report.best else ""
    limit = f"{report.budget_s:.0f} s" if report.budget_s else f"{report.steps} steps"
    return f"Step {report.step}, {report.seconds:.0f} of {limit}: loss {report.loss:.3f}{best}"


def saved_status(result: FinetuneResult) -> str:
    how = "cancelled: " if result.cancelled else ""
    return (
        f"Saved {result.card.name} ({how}best step {result.best_step} of {result.steps}, held-out balanced "
        f"accuracy {result.best.balanced_accuracy:.2f}, {result.seconds:.0f} s) in {result.path.parent}. "
        "It is now the chosen model; Revert goes back to the base."
    )


def preview_layers(run: FinetuneRun) -> list[tuple]:
    """The slices previewed so far, as the run's prediction layer."""
    return [
        layer_tuple(
            run.source, run.model, "prediction", run.preview, "labels", RUN, colormap=run.labels.colormap, opacity=0.6
        )
    ]


def prediction_layers(run: FinetuneRun, prediction: Prediction | None) -> list[tuple]:
    """The whole volume's prediction and uncertainty layers (the preview when the prediction was skipped)."""
    if prediction is None:
        return preview_layers(run)
    return painted_prediction_layers(
        run.source, run.model, RUN, prediction.labels, prediction.uncertainty, run.labels.colormap
    )
