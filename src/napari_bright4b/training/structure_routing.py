"""Experts that follow structure: a supervised training loss that asks the Soft-MoE routing,
and the token states it reads, to carry the structures of the target.

Left to the task loss and the load balance, a small model's router splits its tokens by
whatever divides them evenly (their place in the attention brick, docs/inspect.md) and its
token states hold little of the structure (the decoder's full-resolution stem segments).
This loss adds, to the task's, two probe terms on each token's share of the target
(``target (B, K, Z, Y, X)`` averaged over the token's voxels):

- *token supervision*: each token map the decoder reads predicts the shares through a
  1x1x1 convolution of its own (binary cross-entropy);
- *routing supervision*: each layer's expert usage per token (the combine weight summed
  over an expert's slots, averaged over the streams) predicts them through a 1x1x1
  convolution from the experts.

The load balance is unchanged, so experts still share the tokens; routing stays convex and
on the hypersphere. The probes train with the model and are dropped with the loss (they
live in the training state, not the model). Which expert takes which structure is free.

A router made confident early has no gradient left to follow the probes (its softmax is
saturated on whatever split came first), so with ``sharpen=(start, end)`` the Soft-MoE
confidence term is off until step ``start`` and ramps linearly to the model's
``routing_confidence`` at step ``end``: the routing learns the structure while soft, then
commits to it (a temperature schedule; docs/inspect.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from ..analysis.routing import routing_maps
from ..models.bright4b import Bright4B
from ..nn.token_lattice import BlockLattice

Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
TOKEN_WEIGHT = 0.5
ROUTING_WEIGHT = 0.5


class StructureRouting(nn.Module):
    """``task(output, image, target)`` plus ``token_weight`` x the token probes' and
    ``routing_weight`` x the routing probes' mean binary cross-entropy against each token's
    share of the ``target``'s ``K`` channels (module docstring), for ``model``'s forward
    just run. Hooks on ``model`` keep what the probes read; :meth:`remove` takes them off."""

    def __init__(
        self,
        model: Bright4B,
        task: Loss,
        channels: int,
        token_weight: float = TOKEN_WEIGHT,
        routing_weight: float = ROUTING_WEIGHT,
        sharpen: tuple[int, int] | None = None,
    ):
        super().__init__()
        config = model.config
        self.moes = [block.moe for block in model.blocks]
        self.confidence, self.sharpen = config.routing_confidence, sharpen
        self.register_buffer("step", torch.zeros((), dtype=torch.long))  # in the state: a resumed ramp goes on
        self.task, self.patch, self.streams = task, tuple(config.patch), config.streams
        self.num_experts, self.weights = config.num_experts, (token_weight, routing_weight)
        self.token_probes = nn.ModuleList(nn.Conv3d(config.dim, channels, 1) for _ in config.taps)
        self.routing_probes = nn.ModuleList(nn.Conv3d(config.num_experts, channels, 1) for _ in model.blocks)
        self.to(next(model.parameters()).device)
        self.taps: list[torch.Tensor] = []
        self.combine: list[torch.Tensor] = []
        self.lattice: BlockLattice | None = None
        self._hooks = [model.decoder.register_forward_pre_hook(self._keep_taps)]
        self._hooks.append(model.blocks[0].register_forward_pre_hook(self._keep_lattice))
        self._hooks += [block.moe.register_forward_hook(self._keep_combine, with_kwargs=True) for block in model.blocks]

    def _keep_taps(self, decoder: nn.Module, args: tuple) -> None:
        self.taps = list(args[1])

    def _keep_lattice(self, block: nn.Module, args: tuple) -> None:
        self.lattice, self.combine = args[1], []
        for moe in self.moes:
            moe.confidence_weight = self.confidence_weight(int(self.step))

    def _keep_combine(self, moe: nn.Module, args: tuple, kwargs: dict, output: torch.Tensor) -> None:
        self.combine.append(moe.routing(args[0], kwargs.get("context"))[1])

    def remove(self) -> None:
        """Take the hooks off the model and give its routing back its full confidence weight."""
        for hook in self._hooks:
            hook.remove()
        for moe in self.moes:
            moe.confidence_weight = self.confidence

    def confidence_weight(self, step: int) -> float:
        """The Soft-MoE confidence weight at ``step``: the model's, or the ramp's value on it."""
        if self.sharpen is None:
            return self.confidence
        start, end = self.sharpen
        return self.confidence * min(max((step - start) / max(end - start, 1), 0.0), 1.0)

    def usage_maps(self) -> list[torch.Tensor]:
        """Each layer's expert usage on the token lattice, ``(B, experts, tz, ty, tx)``."""
        maps = []
        for combine in self.combine:
            usage = self.lattice.to_raster(routing_maps(combine, self.num_experts, self.streams)[1])
            maps.append(usage.transpose(1, 2).reshape(usage.shape[0], self.num_experts, *self.lattice.shape))
        return maps

    def forward(self, output: torch.Tensor, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        value = self.task(output, image, target)
        shares = F.avg_pool3d(target.float(), self.patch, ceil_mode=True)
        terms = []
        for probes, maps, weight in zip(
            (self.token_probes, self.routing_probes), (self.taps, self.usage_maps()), self.weights
        ):
            if weight:
                errors = [_probe_error(probe, grid, shares) for probe, grid in zip(probes, maps)]
                terms.append(weight * torch.stack(errors).mean())
        if self.training:
            self.step += 1
        return value + sum(terms)


@dataclass(frozen=True)
class RoutingSupervision:
    """A recipe's :class:`StructureRouting` settings: the probes' weights and the confidence
    ramp ``sharpen`` (steps)."""

    token_weight: float = TOKEN_WEIGHT
    routing_weight: float = ROUTING_WEIGHT
    sharpen: tuple[int, int] | None = None

    def for_steps(self, steps: int, planned: int) -> RoutingSupervision:
        """The same supervision for a run of ``steps`` instead of ``planned`` steps: the
        confidence ramp at the same fractions of the run."""
        sharpen = self.sharpen and tuple(round(step * steps / planned) for step in self.sharpen)
        return replace(self, sharpen=sharpen)

    def loss(self, model: Bright4B, task: Loss, channels: int) -> StructureRouting:
        """The loss for ``model``'s training on ``task`` against ``channels`` target channels."""
        return StructureRouting(model, task, channels, self.token_weight, self.routing_weight, self.sharpen)


def _probe_error(probe: nn.Conv3d, grid: torch.Tensor, shares: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of ``probe(grid)`` against ``shares (B, K, tz, ty, tx)`` on the
    tokens both cover (the model's lattice may overhang a padded input)."""
    z, y, x = (min(a, b) for a, b in zip(grid.shape[2:], shares.shape[2:]))
    logits = probe(grid.float()[..., :z, :y, :x])
    return F.binary_cross_entropy_with_logits(logits, shares[..., :z, :y, :x])
