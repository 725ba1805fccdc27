"""Instant mode: a classifier on per-voxel features, refitted in seconds as the user paints.

The classifier (a random forest by default, as ilastik and convpaint use; or a logistic
regression) learns the painted classes from the features (:mod:`...features`) of painted
voxels, at most ``samples_per_class`` of each class. A saved instant model is a
safetensors file holding those training rows and their classes with a JSON card; loading
refits the same classifier on them with the same seed, so nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ...analysis.uncertainty import normalized_entropy
from ...errors import BadInputError, CheckpointError
from ...features.voxel_features import FeatureSpec, VoxelFeatures, compute_features
from ...files import atomic_path
from ...models.header import INSTANT_KEY
from ...models.registry import resolve
from ...models.session import ModelSession
from .base_agreement import Agreement, agreements, keep_base
from .modes import CLASSIFIERS
from .painted import PaintedClasses, check_labels, painted_classes

FORMAT = 1


@dataclass(frozen=True)
class InstantSettings:
    """The classifier (:data:`CLASSIFIERS`), its size (forest: ``trees`` of at most ``depth``),
    the painted voxels it learns from per class, its seed and threads (-1: all cores); with
    ``keep_base``, the base's answer for the classes the strokes say it gets right
    (:mod:`.base_agreement`)."""

    classifier: str = "forest"
    trees: int = 64
    depth: int = 16
    samples_per_class: int = 20_000
    seed: int = 0
    threads: int = -1
    keep_base: bool = True

    def __post_init__(self):
        if self.classifier not in CLASSIFIERS:
            raise BadInputError(f"unknown classifier {self.classifier!r}; use one of {', '.join(CLASSIFIERS)}")

    def estimator(self):
        """A fresh scikit-learn estimator as these settings say."""
        if self.classifier == "forest":
            from sklearn.ensemble import RandomForestClassifier

            return RandomForestClassifier(self.trees, max_depth=self.depth, n_jobs=self.threads, random_state=self.seed)
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=500, class_weight="balanced"))


def training_rows(codes: np.ndarray, samples_per_class: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of at most ``samples_per_class`` painted voxels per class of stroke ``codes
    (Z, Y, X)`` (0 = not painted, ``c + 1`` = class ``c``), ascending, and their classes."""
    flat = codes.ravel()
    chosen = []
    for code in np.unique(flat[flat > 0]):
        where = np.flatnonzero(flat == code)
        if where.size > samples_per_class:
            where = rng.choice(where, samples_per_class, replace=False)
        chosen.append(where)
    index = np.sort(np.concatenate(chosen))
    return index, (flat[index] - 1).astype(np.uint8)


@dataclass
class InstantModel:
    """A fitted classifier of ``classes`` on features computed as ``spec`` says, named
    ``feature_names``; ``samples (N, F)`` float32 and ``targets (N,)`` class indices are what
    it learned from; ``agreements`` say how the base's masks met the strokes."""

    classes: PaintedClasses
    spec: FeatureSpec
    feature_names: tuple[str, ...]
    samples: np.ndarray
    targets: np.ndarray
    settings: InstantSettings = InstantSettings()
    provenance: dict = field(default_factory=dict)
    agreements: tuple[Agreement, ...] = ()

    @property
    def kept(self) -> tuple[Agreement, ...]:
        """The agreements whose class the base decides, in the base's class order."""
        return tuple(a for a in self.agreements if a.kept)

    def __post_init__(self):
        self.estimator = self.settings.estimator().fit(self.samples, self.targets)

    @classmethod
    def fit(
        cls, features: VoxelFeatures, codes: np.ndarray, classes: PaintedClasses, settings: InstantSettings
    ) -> InstantModel:
        """Fit on the painted voxels of stroke ``codes (Z, Y, X)`` (:meth:`PaintedClasses.codes`)."""
        if tuple(codes.shape) != features.shape:
            raise BadInputError(f"strokes {tuple(codes.shape)} and features {features.shape} differ in shape")
        index, targets = training_rows(codes, settings.samples_per_class, np.random.default_rng(settings.seed))
        rows = np.asarray(features.array.reshape(-1, features.array.shape[-1])[index], dtype=np.float32)
        fitted = cls(classes, features.spec, features.names, rows, targets, settings)
        if settings.keep_base:
            fitted.agreements = agreements(features, codes, classes, fitted.classify)
        return fitted

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """Class probabilities ``(K, N)`` float32 of feature ``rows (N, F)``; a class with no
        training row has probability 0."""
        found = self.estimator.predict_proba(rows).astype(np.float32)
        out = np.zeros((len(self.classes.names), len(rows)), np.float32)
        out[self.estimator.classes_] = found.T
        return out

    def classify(self, rows: np.ndarray) -> np.ndarray:
        """The most probable class index ``(N,)`` of each of feature ``rows (N, F)``."""
        return self.probabilities(rows).argmax(0)

    def predict(self, features: VoxelFeatures, z: slice = slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """``(labels, uncertainty)`` on slices ``z`` of ``features``: painted values ``(dz, Y, X)``
        of the most probable class (0 = background) and the normalized entropy of the class
        probabilities in [0, 1] (:func:`~...analysis.uncertainty.normalized_entropy`); the base
        decides for its :attr:`kept` classes (:func:`.base_agreement.keep_base`)."""
        if tuple(features.names) != tuple(self.feature_names):
            raise BadInputError("these features were computed otherwise than the ones the classifier learned from")
        shape = features.array[z].shape[:3]
        probabilities = self.probabilities(features.slab(z)).reshape(-1, *shape)
        classes = keep_base(probabilities.argmax(0), features, self.kept, self.classes, z)
        return self.classes.to_painted(classes), normalized_entropy(probabilities)

    def segment(self, image: np.ndarray, voxel_size, progress=None, cancel=None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`predict` over a new ``image (C, Z, Y, X)`` with ``voxel_size`` (z, y, x, um):
        its features are computed as the classifier's were (scales in um, so another voxel
        size sees the same physical scales)."""
        return self.predict(compute_features(image, voxel_size, self.spec, None, progress, cancel))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the training rows and the card to a safetensors file, atomically."""
        from safetensors.numpy import save_file

        card = {
            "format": FORMAT,
            "classes": {
                "values": list(self.classes.values),
                "names": list(self.classes.names),
                "voxels": list(self.classes.voxels),
            },
            "features": self.spec.to_dict(),
            "feature_names": list(self.feature_names),
            "settings": asdict(self.settings),
            "provenance": self.provenance,
            "agreements": [a.to_dict() for a in self.agreements],
        }
        tensors = {"samples": np.ascontiguousarray(self.samples), "targets": np.ascontiguousarray(self.targets)}
        with atomic_path(path) as tmp:
            save_file(tensors, tmp, metadata={INSTANT_KEY: json.dumps(card)})
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> InstantModel:
        """Read a file written by :meth:`save` and refit its classifier; never unpickles.
        Raises :class:`CheckpointError` naming what is wrong with the file."""
        from safetensors import SafetensorError, safe_open

        path = Path(path)
        try:
            with safe_open(path, "np") as fh:
                text = (fh.metadata() or {}).get(INSTANT_KEY)
                if text is None:
                    raise CheckpointError(f"{path.name} is not an instant model (its header has no {INSTANT_KEY})")
                samples, targets = fh.get_tensor("samples"), fh.get_tensor("targets")
        except (SafetensorError, OSError) as err:
            raise CheckpointError(f"{path.name} cannot be read as a safetensors file: {err}") from None
        try:
            card = json.loads(text)
            if card.get("format") != FORMAT:
                raise CheckpointError(
                    f"{path.name}: instant model format {card.get('format')!r}; this version reads {FORMAT}"
                )
            names = tuple(card["feature_names"])
            classes = PaintedClasses(*(tuple(card["classes"][k]) for k in ("values", "names", "voxels")))
            settings = InstantSettings(**card["settings"])
            spec = FeatureSpec.from_dict(card["features"])
            found = tuple(Agreement(**a) for a in card.get("agreements", []))
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            if isinstance(err, CheckpointError):
                raise
            raise CheckpointError(
                f"{path.name}: the instant model's card is malformed ({type(err).__name__}: {err})"
            ) from None
        if samples.ndim != 2 or samples.shape[1] != len(names) or targets.shape != (len(samples),):
            raise CheckpointError(
                f"{path.name}: 'samples' {samples.shape} and 'targets' {targets.shape} do not "
                f"match {len(names)} feature names"
            )
        if targets.size and int(targets.max()) >= len(classes.names):
            raise CheckpointError(f"{path.name}: 'targets' names class {int(targets.max())} of {len(classes.names)}")
        return cls(classes, spec, names, samples, targets, settings, card.get("provenance", {}), found)


def is_instant_model(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a safetensors file written by :meth:`InstantModel.save` (reads the header only)."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if path.suffix != ".safetensors" or not path.is_file():
        return False
    try:
        with safe_open(path, "np") as fh:
            return INSTANT_KEY in (fh.metadata() or {})
    except (SafetensorError, OSError):
        return False


@dataclass(frozen=True)
class InstantResult:
    """An instant classifier fitted on strokes and its prediction over the whole image:
    ``labels (Z, Y, X)`` painted values (0 = background), ``uncertainty (Z, Y, X)`` in [0, 1]."""

    model: InstantModel
    features: VoxelFeatures
    labels: np.ndarray
    uncertainty: np.ndarray
    seconds: dict


def instant_segment(
    image: np.ndarray,
    voxel_size,
    labels: np.ndarray,
    base: str | None,
    *,
    names=None,
    settings: InstantSettings = InstantSettings(),
    micrometre: bool = False,
    model=None,
    progress=None,
    cancel=None,
) -> InstantResult:
    """Fit an instant classifier on ``labels (Z, Y, X)`` painted over ``image (C, Z, Y, X)``
    (voxel size z, y, x um) and predict every voxel. Features: the filter bank, plus the
    features of ``base`` (a segmentation or deblurring model's registry name or path; ``None``:
    the filter bank alone), loaded unless ``model`` is its ``(model, card)`` already; with
    ``micrometre``, the filter bank's micrometre family too (:class:`FeatureSpec`)."""
    check_labels(labels.shape, image.shape[1:])
    if base is not None:
        entry = resolve(base)
        if entry.source == "path":
            base = str(entry.path.resolve())  # a saved classifier finds its base from any folder
        if model is None:
            with ModelSession(base) as session:
                loaded = (session.model, session.card)
                return instant_segment(
                    image,
                    voxel_size,
                    labels,
                    base,
                    names=names,
                    settings=settings,
                    micrometre=micrometre,
                    model=loaded,
                    progress=progress,
                    cancel=cancel,
                )
        if model[1].head.task == "classify":
            raise BadInputError(f"{model[1].name!r} is a classifier; its features are per volume, not per voxel")
    started = time.perf_counter()
    spec = FeatureSpec(base=base, micrometre=micrometre)
    features = compute_features(image, voxel_size, spec, model, progress, cancel)
    computed = time.perf_counter()
    classes = painted_classes(labels, names, model[1].head.class_names if base is not None else ())
    fitted = InstantModel.fit(features, classes.codes(labels), classes, settings)
    fitted.provenance.update(
        recipe="instant", base_model=base, painted_voxels=classes.painted_voxels(), voxel_size=list(voxel_size)
    )
    fitted_at = time.perf_counter()
    predicted, uncertainty = fitted.predict(features)
    seconds = {
        "features": round(computed - started, 2),
        "fit": round(fitted_at - computed, 2),
        "predict": round(time.perf_counter() - fitted_at, 2),
    }
    return InstantResult(fitted, features, predicted, uncertainty, seconds)
