"""Named sizes of the Bright-4B backbone, each with a default head, for building models from scratch.

The parameter counts in the summaries are computed by :func:`~.config.total_parameters`
(``bright4b info PRESET``) and tested against built models.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import Bright4BConfig, HeadConfig


@dataclass(frozen=True)
class Preset:
    """A named backbone size with a default head, for building models from scratch."""

    name: str
    config: Bright4BConfig
    head: HeadConfig = field(default_factory=HeadConfig)
    summary: str = ""


# One line per concept: trunk and attention heads, sparse attention, Soft MoE, decoder.
# The unnamed values are Bright4BConfig's defaults (the paper's full-4b model).
# fmt: off
_NANO = Bright4BConfig(
    dim=64, depth=4, heads=4, kv_heads=2, head_dim=16,
    window_radius=(1, 1, 1), compress_hidden=64,
    num_experts=4, slots_per_expert=2, expert_hidden=192,
    decoder_features=6, decoder_stem="hybrid",
)
_SMALL = Bright4BConfig(
    dim=384, depth=8, heads=6, kv_heads=2, head_dim=64,
    compress_hidden=256,
    num_experts=8, slots_per_expert=2, expert_hidden=1536,
    decoder_features=16, decoder_stem="light",
)
_BASE = Bright4BConfig(
    dim=512, depth=12, heads=8, kv_heads=2, head_dim=64,
    num_experts=16, slots_per_expert=2, expert_hidden=2048,
    decoder_features=48,
)
# fmt: on

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("nano", _NANO, summary="about 1M parameters: CPU tests and the bundled models"),
        Preset("small", _SMALL, summary="about 100M parameters"),
        Preset("base", _BASE, summary="about 450M parameters"),
        Preset(
            "full-4b",
            Bright4BConfig(),
            summary="the paper's model (h=512, 12 layers, 72 experts, E=2): about 3.7B parameters",
        ),
    )
}
