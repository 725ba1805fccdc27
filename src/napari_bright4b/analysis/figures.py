"""Static figures (PNG) of results: z-slices with prediction and ground-truth outlines."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..files import atomic_path

COLOURS = ("#ff7f0e", "#d62728", "#2ca02c", "#1f77b4", "#9467bd", "#8c564b")


def overlay_figure(
    image: np.ndarray,
    predicted: np.ndarray,
    truth: np.ndarray | None,
    names: Sequence[str],
    path: str | Path,
    slices: Sequence[int],
    title: str = "",
) -> Path:
    """One panel per z-slice of ``image (Z, Y, X)``: predicted masks ``(K, Z, Y, X)`` as
    filled contours, ground truth (same shape) as dashed outlines; written atomically."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import pyplot as plt
    from matplotlib.lines import Line2D

    fig, axes = plt.subplots(1, len(slices), figsize=(4 * len(slices), 4.4), squeeze=False)
    for ax, z in zip(axes[0], slices):
        plane = image[z]
        lo, hi = np.percentile(plane, (1, 99.5))
        ax.imshow(plane, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        for k, colour in zip(range(predicted.shape[0]), COLOURS):
            if predicted[k, z].any():
                ax.contourf(predicted[k, z], levels=[0.5, 1.5], colors=[colour], alpha=0.35)
                ax.contour(predicted[k, z], levels=[0.5], colors=[colour], linewidths=0.8)
            if truth is not None and truth[k, z].any():
                ax.contour(truth[k, z], levels=[0.5], colors=[colour], linewidths=0.8, linestyles="dashed")
        ax.set_title(f"z = {z}")
        ax.set_axis_off()
    handles = [Line2D([], [], color=c, lw=3, label=n) for n, c in zip(names, COLOURS)]
    if truth is not None:
        handles.append(Line2D([], [], color="white", lw=1, ls="--", label="ground truth (dashed)"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, facecolor="white")
    plt.close(fig)
    return path
