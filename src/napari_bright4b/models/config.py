"""Configurations of the Bright-4B backbone and its heads, and their parameter counts.

Parameter counts are computed from the configuration by formula (no model is built),
so ``bright4b info full-4b`` is instant; tests check the formula against real models.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from math import prod

Triple = tuple[int, int, int]
DECODER_STEMS = ("unetr", "hybrid", "pyramid", "light")


# may differ between a checkpoint and a model started from it: no weights of their own, or
# (router_context) weights that start at zero, so the router first routes as the checkpoint did
ROUTING_SETTINGS = ("balance_weight", "routing_confidence", "centred_routing", "router_context")
STEM_CONTEXT_WIDTH = {"hybrid": 2, "pyramid": 4}  # channels of the coarsest stem level, per decoder feature


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Bright4BConfig:
    """Hyper-parameters of the Bright-4B backbone.

    ``patch`` is the anisotropic patch (z, y, x) in voxels; ``brick`` the NSA block
    as a brick of tokens; ``window_radius`` the sliding window in bricks. The default
    window, the brick and its 8 in-plane neighbours (288 tokens), matches the paper's
    W = 128-token radius; small presets afford a full 3x3x3-brick window.
    ``decoder_stem`` is how the image enters the decoder: ``unetr`` (UNETR's), ``hybrid``
    (plus convolutional features at half resolution), ``pyramid`` (at half and quarter
    resolution) or ``light`` (one convolution); see
    :mod:`napari_bright4b.nn.decoder`. ``balance_weight`` scales the Soft-MoE balancing loss
    and ``routing_confidence`` its term that nudges each token's routing to be confident;
    ``centred_routing`` routes each token by its difference from a running mean token
    learned in training (:class:`~napari_bright4b.nn.soft_moe.HypersphericalSoftMoE`);
    ``router_context`` lets every router also read the decoder stem's coarsest convolutional
    features under each token (``hybrid`` and ``pyramid`` stems), which hold the structure
    the tokens do not (docs/inspect.md).
    """

    in_channels: int = 1
    dim: int = 512
    depth: int = 12
    heads: int = 8
    kv_heads: int = 2
    head_dim: int = 64
    patch: Triple = (2, 16, 16)
    brick: Triple = (2, 4, 4)
    kappa: int = 4
    window_radius: Triple = (0, 1, 1)
    compress_hidden: int = 256
    num_experts: int = 72
    slots_per_expert: int = 1
    expert_hidden: int = 4096
    streams: int = 2
    decoder_features: int = 64
    decoder_stem: str = "unetr"
    step_init: float = 0.05
    balance_weight: float = 0.01
    routing_confidence: float = 0.5
    attention: str = "nsa"
    centred_routing: bool = False
    router_context: bool = False

    def __post_init__(self):
        for name in ("patch", "brick", "window_radius"):
            value = getattr(self, name)
            if not isinstance(value, (tuple, list)) or len(value) != 3 or not all(_is_int(v) for v in value):
                raise ValueError(f"{name} must be 3 integers (z, y, x), got {value!r}")
            object.__setattr__(self, name, tuple(value))
        sizes = ("in_channels", "dim", "depth", "heads", "kv_heads", "head_dim", "kappa", "compress_hidden")
        sizes += ("num_experts", "slots_per_expert", "expert_hidden", "streams", "decoder_features")
        for name in sizes:
            if not _is_int(getattr(self, name)) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if min(self.patch) < 1 or min(self.brick) < 1 or min(self.window_radius) < 0:
            raise ValueError("patch and brick sizes must be >= 1 and window_radius >= 0")
        if tuple(self.patch[1:]) != (16, 16) or self.patch[0] not in (1, 2):
            raise ValueError(f"patch must be (1|2, 16, 16) for the UNETR decoder, got {self.patch}")
        if self.decoder_stem not in DECODER_STEMS:
            raise ValueError(f"decoder_stem must be one of {DECODER_STEMS}, got {self.decoder_stem!r}")
        if self.router_context and self.decoder_stem not in STEM_CONTEXT_WIDTH:
            raise ValueError(
                f"router_context reads the decoder stem's coarser levels: use decoder_stem 'hybrid' or 'pyramid', "
                f"not {self.decoder_stem!r}"
            )
        if self.attention not in ("nsa", "dense"):
            raise ValueError(f"attention must be 'nsa' or 'dense', got {self.attention!r}")
        if self.depth % 4:
            raise ValueError(f"depth must be a positive multiple of 4 (the decoder taps L/4..L), got {self.depth}")
        if self.heads % self.kv_heads:
            raise ValueError(f"heads ({self.heads}) must be a multiple of kv_heads ({self.kv_heads})")

    @property
    def block_size(self) -> int:
        return prod(self.brick)

    @property
    def spatial_multiple(self) -> Triple:
        """Inputs are padded to multiples of this (voxels): patch times brick."""
        return tuple(p * b for p, b in zip(self.patch, self.brick))

    @property
    def taps(self) -> tuple[int, ...]:
        """1-based encoder layers feeding the decoder: L/4, L/2, 3L/4, L."""
        return tuple(self.depth * i // 4 for i in range(1, 5))

    @property
    def context_width(self) -> int:
        """Channels each router reads from the stem under a token (0 without ``router_context``)."""
        return self.decoder_features * STEM_CONTEXT_WIDTH[self.decoder_stem] if self.router_context else 0

    def same_weights(self, other: Bright4BConfig) -> bool:
        """Whether a model of ``other`` has this one's weights, whatever each routes and
        balances by (``ROUTING_SETTINGS``: training on may change them)."""
        try:
            return replace(self, **{name: getattr(other, name) for name in ROUTING_SETTINGS}) == other
        except ValueError:  # e.g. a router context on a stem without coarser levels: not this backbone
            return False

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> Bright4BConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown backbone config keys: {sorted(unknown)}")
        return cls(**data)

    def parameter_counts(self) -> dict[str, int]:
        """Parameters per component, by formula."""
        d, c = self.dim, self.in_channels
        pz, py, px = self.patch
        heads, kv, dh, bs, ch = self.heads, self.kv_heads, self.head_dim, self.block_size, self.compress_hidden
        compressor = bs * dh + bs * dh * ch + ch + ch * dh + dh
        attention = 2 * d * heads * dh + 2 * d * kv * dh + dh + 2 * compressor + heads * dh * 3 + heads * 3
        slots = self.num_experts * self.slots_per_expert
        moe = d * slots + 1 + 2 * self.num_experts * d * self.expert_hidden + self.context_width * d
        e = self.streams
        hyper = e * e + d * e + 1 + e * d * d + 1 + d
        return {
            "patch_embed": c * pz + py * px * c * d,
            "attention": self.depth * attention,
            "moe": self.depth * moe,
            "hyper_connections": self.depth * 2 * hyper + e * d,
            "decoder": unetr_decoder_params(c, d, self.decoder_features, self.patch, self.decoder_stem),
        }


def _res_block(cin: int, cout: int) -> int:
    """MONAI UnetResBlock, 3x3x3, bias-free, instance norm without affine."""
    return 27 * cin * cout + 27 * cout * cout + (cin * cout if cin != cout else 0)


def _up_block(cin: int, cout: int, stage: Triple) -> int:
    """MONAI UnetrUpBlock: transposed conv then a residual block on the concatenation."""
    return cin * cout * prod(stage) + _res_block(2 * cout, cout)


def _pr_up_block(cin: int, cout: int, layers: int, stage: Triple) -> int:
    """MONAI UnetrPrUpBlock: a transposed conv, then ``layers`` x (transposed conv + residual block)."""
    k = prod(stage)
    return cin * cout * k + layers * (cout * cout * k + _res_block(cout, cout))


def _full_resolution_stage(cin: int, cout: int, image_channels: int, stage: Triple, stem: str) -> int:
    """``unetr``: a residual block on the image, then an up block; ``hybrid``: also a
    strided residual block to half resolution; ``pyramid``: and another on to quarter
    resolution; ``light``: a bias-free transposed conv, then one 3x3x3 conv on features + image."""
    unetr = _res_block(image_channels, cout) + _up_block(cin, cout, stage)
    if stem == "unetr":
        return unetr
    if stem == "hybrid":
        return unetr + _res_block(cout, cin)
    if stem == "pyramid":
        return unetr + _res_block(cout, cin) + _res_block(cin, 2 * cin)
    return cin * cout * prod(stage) + 27 * (cout + image_channels) * cout


def unetr_decoder_params(in_channels: int, dim: int, f: int, patch: Triple, stem: str = "unetr") -> int:
    xy, last = (1, 2, 2), (patch[0], 2, 2)
    return (
        _pr_up_block(dim, 2 * f, 2, xy)
        + _pr_up_block(dim, 4 * f, 1, xy)
        + _pr_up_block(dim, 8 * f, 0, xy)
        + _up_block(dim, 8 * f, xy)
        + _up_block(8 * f, 4 * f, xy)
        + _up_block(4 * f, 2 * f, xy)
        + _full_resolution_stage(2 * f, f, in_channels, last, stem)
    )


@dataclass(frozen=True)
class HeadConfig:
    """A task head.

    ``task``: ``segment`` (per-voxel classes), ``deblur`` (a sharp image with the
    input's channels) or ``classify`` (volume-level classes). ``class_names`` names the
    output channels. ``activation``: ``sigmoid`` (overlapping structures) or ``softmax``
    (exclusive classes) for segmentation; classification is always ``softmax`` and
    deblurring ``identity``; ``None`` picks the task's default. ``correction`` (deblurring
    only): ``additive`` adds the head's output to the input; ``multiplicative`` scales the
    input's positive part by the exponential of the output, bounded to a factor
    :data:`MAX_GAIN` either way, so no intensity appears where the input has none (a
    refined Richardson-Lucy estimate keeps its dark background).
    """

    task: str = "segment"
    class_names: tuple[str, ...] = ("foreground",)
    activation: str | None = None
    correction: str = "additive"

    def __post_init__(self):
        if isinstance(self.class_names, str) or not isinstance(self.class_names, (tuple, list)):
            raise ValueError(f"head class_names must be a list of names, got {self.class_names!r}")
        object.__setattr__(self, "class_names", tuple(self.class_names))
        if self.task not in ACTIVATIONS:
            raise ValueError(f"head task must be one of {TASKS}, got {self.task!r}")
        allowed = ACTIVATIONS[self.task]
        if self.activation is None:
            object.__setattr__(self, "activation", allowed[0])
        if self.activation not in allowed:
            raise ValueError(
                f"head activation for task {self.task!r} must be one of {allowed}, got {self.activation!r}"
            )
        if not self.class_names or not all(isinstance(n, str) and n for n in self.class_names):
            raise ValueError(f"head class_names must be non-empty strings, got {self.class_names!r}")
        if self.task == "classify" and self.channels < 2:
            raise ValueError(f"a classification head needs at least 2 classes, got {list(self.class_names)}")
        if self.correction not in CORRECTIONS:
            raise ValueError(f"head correction must be one of {CORRECTIONS}, got {self.correction!r}")
        if self.correction != "additive" and self.task != "deblur":
            raise ValueError(f"a {self.correction} correction is for a deblurring head, not a {self.task!r} head")

    @property
    def channels(self) -> int:
        return len(self.class_names)

    def check_fits(self, config: Bright4BConfig) -> None:
        """Raise ``ValueError`` if this head cannot sit on ``config``'s backbone."""
        if self.task == "deblur" and self.channels != config.in_channels:
            raise ValueError(
                f"a deblurring head outputs the input's {config.in_channels} channel(s), "
                f"but names {self.channels}: {list(self.class_names)}"
            )

    def same_weights(self, other: HeadConfig) -> bool:
        """Whether ``other`` has this head's weights (task, classes, activation): the
        ``correction`` changes what the weights' output means, not their shape."""
        return (self.task, self.class_names, self.activation) == (other.task, other.class_names, other.activation)

    def parameter_count(self, config: Bright4BConfig) -> int:
        if self.task == "classify":  # class logits and a pooling score per token and per voxel
            return (config.dim + config.decoder_features + 2) * self.channels + config.dim + config.decoder_features
        return config.decoder_features * self.channels + self.channels

    def to_dict(self) -> dict:
        out = {"task": self.task, "class_names": list(self.class_names), "activation": self.activation}
        if self.correction != "additive":
            out["correction"] = self.correction
        return out

    @classmethod
    def from_dict(cls, data: dict) -> HeadConfig:
        return cls(**data)


CORRECTIONS = ("additive", "multiplicative")
MAX_GAIN = 20.0  # a multiplicative correction scales each voxel by a factor within [1/20, 20]
ACTIVATIONS = {"segment": ("sigmoid", "softmax"), "deblur": ("identity",), "classify": ("softmax",)}
TASKS = tuple(ACTIVATIONS)


def total_parameters(config: Bright4BConfig, head: HeadConfig) -> int:
    """Parameters of a model: the backbone's components plus the head."""
    return sum(config.parameter_counts().values()) + head.parameter_count(config)
