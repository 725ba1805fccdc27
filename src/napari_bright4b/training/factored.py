"""A factored second-moment optimizer: Adafactor's memory (Shazeer & Stern, 2018) with an
absolute step size like AdamW's, written so that FSDP2's sharded parameters (DTensors) take it.

For a matrix (the last two axes of any tensor of two or more), the squared gradient's
running mean is kept only as its row means ``r`` and column means ``c``, and the second
moment estimated as ``r c^T / mean(r)``. Vectors and scalars keep it whole. The update is
the gradient divided by the root of that estimate plus ``eps`` (as AdamW adds it, so that
near-zero gradients make near-zero steps, not sign-sized ones), scaled down where its RMS exceeds
``clip``, with no first moment: the state is a sliver of the weights (AdamW keeps two
moments of every weight). The decay of the running mean grows with the step, ``1 -
step^-0.8``, as in the paper. Weight decay is decoupled, as in AdamW. Every operation is
out of place where a sharded axis is reduced, which ``torch.optim.Adafactor`` is not (it
fails on DTensors).
"""

from __future__ import annotations

import torch

DECAY_EXPONENT = -0.8
FLOOR = 1e-30  # added to the squared gradient, so that row means are never zero


def _settled(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` with any pending cross-shard reduction of a DTensor carried out."""
    placements = getattr(tensor, "placements", None)
    if placements is None or not any(p.is_partial() for p in placements):
        return tensor
    from torch.distributed.tensor import Replicate

    return tensor.redistribute(tensor.device_mesh, [Replicate()] * len(placements))


class FactoredRMS(torch.optim.Optimizer):
    """Factored second moments (module docstring) at rate ``lr``, ``eps`` added to the
    estimate's root, updates clipped to RMS ``clip`` and decoupled ``weight_decay``."""

    def __init__(self, params, lr: float = 1e-3, eps: float = 1e-8, clip: float = 1.0, weight_decay: float = 0.0):
        if lr <= 0 or eps <= 0 or clip <= 0 or weight_decay < 0:
            raise ValueError(f"invalid settings: lr={lr}, eps={eps}, clip={clip}, weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, eps=eps, clip=clip, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else torch.enable_grad()(closure)()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    self._update(param, self.state[param], group)
        return loss

    def _update(self, param: torch.Tensor, state: dict, group: dict) -> None:
        grad = param.grad.float()
        state["step"] = state.get("step", torch.tensor(0.0)) + 1
        decay = 1.0 - float(state["step"]) ** DECAY_EXPONENT  # 0 at the first step: the estimate is its square
        squared = grad.square() + FLOOR
        if grad.ndim >= 2:
            rows, columns = _settled(squared.mean(-1)), _settled(squared.mean(-2))
            if "rows" in state:
                rows = state["rows"] * decay + rows * (1 - decay)
                columns = state["columns"] * decay + columns * (1 - decay)
            state["rows"], state["columns"] = rows, columns
            relative = rows / _settled(rows.mean(-1, keepdim=True))  # near 1: no underflow where all is eps
            estimate = relative.unsqueeze(-1) * columns.unsqueeze(-2)
        else:
            estimate = squared if "second" not in state else state["second"] * decay + squared * (1 - decay)
            state["second"] = estimate
        update = grad / (estimate.sqrt() + group["eps"])
        rms = _settled(update.square().mean()).sqrt()
        update = update / (rms / group["clip"]).clamp(min=1.0)
        if group["weight_decay"]:
            param.mul_(1 - group["lr"] * group["weight_decay"])
        param.add_(update.to(param.dtype), alpha=-group["lr"])
