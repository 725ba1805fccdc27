"""Evaluation metrics (the Bright-4B paper's Table 2 and more), spacing-aware in micrometres.

Empty masks never give NaN: two empty masks agree perfectly (overlap 1, distances 0); a
prediction with no foreground where there is some (or the reverse) scores 0 overlap, and
its surface distances are the volume's diagonal in micrometres, the worst possible.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy import ndimage


def _check_pair(prediction, truth, kind=bool) -> tuple[np.ndarray, np.ndarray]:
    prediction, truth = np.asarray(prediction), np.asarray(truth)
    if prediction.shape != truth.shape:
        raise ValueError(f"prediction {prediction.shape} and ground truth {truth.shape} differ in shape")
    return prediction.astype(kind, copy=False), truth.astype(kind, copy=False)


def _ratio(num: float, den: float) -> float:
    return 1.0 if den == 0 else num / den


def overlap_metrics(prediction: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Dice, IoU, precision and recall of boolean masks of the same shape."""
    prediction, truth = _check_pair(prediction, truth)
    tp = int(np.count_nonzero(prediction & truth))
    fp = int(np.count_nonzero(prediction)) - tp
    fn = int(np.count_nonzero(truth)) - tp
    return {
        "dice": _ratio(2 * tp, 2 * tp + fp + fn),
        "iou": _ratio(tp, tp + fp + fn),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
    }


def surface_distances(
    prediction: np.ndarray, truth: np.ndarray, voxel_size: Sequence[float] = (1.0, 1.0, 1.0)
) -> dict[str, float]:
    """Hausdorff, HD95 and symmetric average surface distance (um) from one pass of MONAI's
    edge distances (both directions), with MONAI's definitions: the larger of the two
    directed maxima (95th percentiles), and the mean of all distances."""
    import torch
    from monai.metrics.utils import get_edge_surface_distance

    prediction, truth = _check_pair(prediction, truth)
    has_prediction, has_truth = bool(prediction.any()), bool(truth.any())
    if not (has_prediction and has_truth):
        worst = 0.0 if has_prediction == has_truth else float(np.linalg.norm(np.multiply(truth.shape, voxel_size)))
        return {"hausdorff": worst, "hd95": worst, "asd": worst}
    with warnings.catch_warnings():  # MONAI 1.5+ passes its own deprecated argument internally
        warnings.filterwarnings("ignore", message=".*always_return_as_numpy", category=FutureWarning)
        _, directed, _ = get_edge_surface_distance(
            torch.from_numpy(np.ascontiguousarray(prediction)),
            torch.from_numpy(np.ascontiguousarray(truth)),
            spacing=[float(v) for v in voxel_size],
            symmetric=True,
        )
    directed = [d.double() for d in directed]
    return {
        "hausdorff": float(max(d.max() for d in directed)),
        "hd95": float(max(torch.quantile(d, 0.95) for d in directed)),
        "asd": float(torch.cat(directed).mean()),
    }


def components(mask: np.ndarray) -> int:
    """Connected components of a boolean mask (26-connectivity in 3D)."""
    mask = np.asarray(mask, bool)
    return int(ndimage.label(mask, structure=np.ones((3,) * mask.ndim))[1])


def segmentation_metrics(
    prediction: np.ndarray, truth: np.ndarray, voxel_size: Sequence[float] = (1.0, 1.0, 1.0)
) -> dict[str, float]:
    """Table 2 of the paper for one structure: overlap, surface distances (um), relative
    volume error (signed, relative to the truth; against an empty truth, relative to one
    voxel) and the absolute difference in connected-component count."""
    prediction, truth = _check_pair(prediction, truth)
    predicted_volume, true_volume = int(prediction.sum()), int(truth.sum())
    return {
        **overlap_metrics(prediction, truth),
        **surface_distances(prediction, truth, voxel_size),
        "relative_volume_error": (predicted_volume - true_volume) / max(true_volume, 1),
        "component_count_error": abs(components(prediction) - components(truth)),
    }


def instance_metrics(prediction: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Variation of information (split + merge, in bits, as scikit-image computes it) and
    adapted Rand error of label images."""
    from skimage.metrics import adapted_rand_error, variation_of_information

    prediction, truth = _check_pair(prediction, truth, np.int64)
    split, merge = variation_of_information(truth, prediction)
    if not truth.any() and not prediction.any():
        rand_error = 0.0
    else:
        rand_error = float(adapted_rand_error(truth, prediction, ignore_labels=())[0])
    return {"voi_split": float(split), "voi_merge": float(merge), "voi": float(split + merge), "arand": rand_error}


def image_metrics(restored: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """SSIM and PSNR (dB) of a restored volume against the reference, on the reference's range."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    restored, reference = _check_pair(restored, reference, np.float64)
    data_range = float(reference.max() - reference.min()) or 1.0
    mse = float(np.mean((restored - reference) ** 2))
    psnr = float("inf") if mse == 0 else float(peak_signal_noise_ratio(reference, restored, data_range=data_range))
    return {
        "ssim": float(structural_similarity(reference, restored, data_range=data_range)),
        "psnr": min(psnr, 100.0),
    }


def classification_metrics(predicted: Sequence[int], true: Sequence[int], classes: int) -> dict[str, float]:
    """Accuracy and macro-F1 (mean over classes present in either list) of class indices."""
    predicted, true = np.asarray(predicted, int), np.asarray(true, int)
    if predicted.shape != true.shape or predicted.ndim != 1 or predicted.size == 0:
        raise ValueError("predicted and true classes must be non-empty lists of the same length")
    f1 = []
    for k in range(classes):
        tp = np.sum((predicted == k) & (true == k))
        fp, fn = np.sum((predicted == k) & (true != k)), np.sum((predicted != k) & (true == k))
        if tp + fp + fn:
            f1.append(2 * tp / (2 * tp + fp + fn))
    return {"accuracy": float(np.mean(predicted == true)), "macro_f1": float(np.mean(f1))}
