"""Plots of an inspection: the expert-usage heatmap (layers x experts) and the routing entropy
per layer, drawn on any matplotlib Axes (the napari dock's or a PNG's)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..files import atomic_path
from .inspection import Inspection

ANNOTATE_CELLS = 144  # write the share in each cell of heatmaps up to this size


def draw_expert_usage(
    axes, usage: np.ndarray, foreground: str = "black", rows: Sequence[str] | None = None, row_label: str = ""
):
    """``usage (R, X)`` as a heatmap: a row per transformer layer (1-based; or named ``rows``
    under ``row_label``), a column per expert (0-based); white is uniform usage (``1 / X``),
    red more, blue less, the colour range symmetric around it out to the largest deviation.
    Returns the image, for a colour bar."""
    layers, experts = usage.shape
    uniform = 1.0 / experts
    reach = max(float(np.abs(usage - uniform).max()), 1e-3)
    image = axes.imshow(
        usage, cmap="RdBu_r", vmin=uniform - reach, vmax=uniform + reach, aspect="auto", interpolation="nearest"
    )
    axes.set_xticks(range(experts))
    axes.set_yticks(range(layers), list(rows) if rows is not None else [str(layer + 1) for layer in range(layers)])
    axes.set_xlabel("expert", color=foreground)
    axes.set_ylabel(row_label or "transformer layer", color=foreground)
    axes.set_title(f"share of combine weight (white: uniform {uniform:.3g})", color=foreground, fontsize="medium")
    if usage.size <= ANNOTATE_CELLS:
        for (row, column), share in np.ndenumerate(usage):
            colour = "white" if abs(image.norm(share) - 0.5) > 0.35 else "black"  # on the dark ends
            axes.text(column, row, f"{share:.3f}", ha="center", va="center", color=colour, fontsize="small")
    axes.tick_params(colors=foreground)
    return image


def draw_routing_entropy(axes, mean: np.ndarray, spread: np.ndarray, foreground: str = "black") -> None:
    """Mean routing entropy ``(L,)`` per layer as bars in [0, 1], with whiskers from the 10th
    to the 90th percentile over tokens (``spread (L, 2)``)."""
    layers = np.arange(1, len(mean) + 1)
    errors = np.abs(spread.T - mean)
    axes.bar(layers, mean, color="#4c9be8", yerr=errors, ecolor=foreground, capsize=3)
    for layer, value in zip(layers, mean):
        inside = value > 0.3
        axes.text(
            layer,
            value / 2 if inside else value + 0.02,
            f"{value:.4f}",
            ha="center",
            va="center" if inside else "bottom",
            rotation=90,
            color="white" if inside else foreground,
            fontsize="small",
        )
    axes.set_ylim(0.0, 1.05)
    axes.set_xticks(layers)
    axes.set_xlabel("transformer layer", color=foreground)
    axes.set_ylabel("routing entropy (0-1)", color=foreground)
    axes.set_title("mean over tokens, 10-90th percentile", color=foreground, fontsize="medium")
    axes.tick_params(colors=foreground)


def depth_figure(inspection: Inspection):
    """The expert usage over depth (the paper's Figure 8): a heatmap per transformer layer,
    token z-planes (their centres in um below the input's first slice) by experts."""
    from matplotlib.figure import Figure

    by_depth = inspection.usage_by_depth
    (scale, _, _), (translate, _, _) = inspection.grid.placement()
    depths = [f"{translate + scale * k:.1f}" for k in range(by_depth.shape[1])]
    columns = min(4, inspection.layers)
    rows = -(-inspection.layers // columns)
    size = (columns * (2.4 + 0.4 * inspection.experts), rows * min(9.0, 1.2 + 0.3 * len(depths)))
    figure = Figure(figsize=size, layout="constrained")
    panels = np.ravel(figure.subplots(rows, columns, squeeze=False))
    for extra in panels[inspection.layers :]:
        extra.set_axis_off()
    for layer, (axes, usage) in enumerate(zip(panels, by_depth)):
        draw_expert_usage(axes, usage, rows=depths, row_label="depth (um)" if layer % columns == 0 else " ")
        axes.set_title(f"layer {layer + 1}", fontsize="medium")
    return figure


def write_plots(inspection: Inspection, folder: Path, title: str) -> dict[str, Path]:
    """``expert_usage.png``, ``expert_usage_by_depth.png`` and ``routing_entropy.png`` in
    ``folder``, each written atomically."""
    from matplotlib.figure import Figure

    width, height = min(12.0, 2.4 + 0.45 * inspection.experts), min(9.0, 1.6 + 0.4 * inspection.layers)
    usage = Figure(figsize=(width, height), layout="constrained")
    axes = usage.subplots()
    usage.colorbar(draw_expert_usage(axes, inspection.expert_usage), ax=axes)
    entropy = Figure(figsize=(min(12.0, 2.4 + 0.45 * inspection.layers), 3.2), layout="constrained")
    draw_routing_entropy(entropy.subplots(), inspection.mean_entropy, inspection.entropy_percentiles())
    figures = {"expert_usage": usage, "expert_usage_by_depth": depth_figure(inspection), "routing_entropy": entropy}
    paths = {}
    for name, figure in figures.items():
        figure.suptitle(title, fontsize="small")
        paths[name] = folder / f"{name}.png"
        with atomic_path(paths[name]) as tmp:
            figure.savefig(tmp, format="png", dpi=100, facecolor="white")
    return paths


def write_structure_plot(report: dict, path: Path, title: str) -> Path:
    """Expert usage per structure (:func:`.structure_usage.structure_usage`), one heatmap per
    transformer layer titled with its mutual information, written atomically to ``path``."""
    from matplotlib.figure import Figure

    layers, names = report["layers"], report["structures"]
    experts = len(next(iter(layers[0]["usage"].values())))
    columns = min(4, len(layers))
    rows = -(-len(layers) // columns)
    figure = Figure(figsize=(columns * (2.6 + 0.4 * experts), rows * (1.2 + 0.35 * len(names))), layout="constrained")
    panels = np.ravel(figure.subplots(rows, columns, squeeze=False))
    for extra in panels[len(layers) :]:
        extra.set_axis_off()
    for n, (axes, layer) in enumerate(zip(panels, layers)):
        usage = np.array([layer["usage"][name] for name in names])
        draw_expert_usage(axes, usage, rows=names, row_label="structure" if n % columns == 0 else " ")
        axes.set_title(f"layer {n + 1}: {layer['mutual_information_bits']:.2f} bits", fontsize="medium")
    figure.suptitle(title, fontsize="small")
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100, facecolor="white")
    return path
