"""Block-major ordering of a 3D token lattice (Bright-4B section 3.3).

NSA-3D works on blocks that are compact 3D bricks of the token lattice (for example
2x4x4 = 32 tokens) rather than runs of a raster order. Tokens are permuted so that
each brick is contiguous; a block's sliding window is the brick's neighbourhood of
bricks.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import product

import torch


@dataclass(frozen=True)
class BlockLattice:
    """A token lattice ``shape = (D', H', W')`` cut into bricks of ``brick`` tokens.

    ``shape`` must be a multiple of ``brick`` (the backbone pads its input so).
    """

    shape: tuple[int, int, int]
    brick: tuple[int, int, int]

    def __post_init__(self):
        for size, b in zip(self.shape, self.brick):
            if size % b:
                raise ValueError(f"token lattice {self.shape} is not a multiple of brick {self.brick}")

    @property
    def grid(self) -> tuple[int, int, int]:
        """Number of bricks along each axis."""
        return tuple(s // b for s, b in zip(self.shape, self.brick))

    @property
    def num_blocks(self) -> int:
        gz, gy, gx = self.grid
        return gz * gy * gx

    @property
    def block_size(self) -> int:
        bz, by, bx = self.brick
        return bz * by * bx

    @cached_property
    def order(self) -> torch.Tensor:
        """``(N,)`` raster index of each token in block-major order."""
        raster = torch.arange(self.shape[0] * self.shape[1] * self.shape[2]).reshape(self.shape)
        (gz, gy, gx), (bz, by, bx) = self.grid, self.brick
        bricks = raster.reshape(gz, bz, gy, by, gx, bx).permute(0, 2, 4, 1, 3, 5)
        return bricks.reshape(-1)

    @cached_property
    def inverse_order(self) -> torch.Tensor:
        """``(N,)`` block-major position of each raster token."""
        inverse = torch.empty_like(self.order)
        inverse[self.order] = torch.arange(self.order.numel())
        return inverse

    def to_blocks(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, N, d)`` raster tokens -> ``(B, N, d)`` block-major tokens."""
        return tokens.index_select(1, self.order.to(tokens.device))

    def to_raster(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, N, d)`` block-major tokens -> ``(B, N, d)`` raster tokens."""
        return tokens.index_select(1, self.inverse_order.to(tokens.device))

    def block_of_token(self) -> torch.Tensor:
        """``(N,)`` block index of each token, in block-major order."""
        return torch.arange(self.num_blocks).repeat_interleave(self.block_size)

    def neighbours(self, radius: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Window blocks of every block within ``radius`` bricks along (z, y, x).

        Returns ``index (num_blocks, W)`` and ``valid (num_blocks, W)``; outside the
        lattice ``valid`` is False and ``index`` points at block 0 (to be masked).
        """
        grid = torch.tensor(self.grid)
        coords = torch.stack(torch.meshgrid(*(torch.arange(g) for g in self.grid), indexing="ij"), -1)
        coords = coords.reshape(-1, 1, 3)
        offsets = torch.tensor(list(product(*(range(-r, r + 1) for r in radius))))
        neighbour = coords + offsets[None]
        valid = ((neighbour >= 0) & (neighbour < grid)).all(-1)
        flat = (neighbour[..., 0] * grid[1] + neighbour[..., 1]) * grid[2] + neighbour[..., 2]
        return torch.where(valid, flat, torch.zeros_like(flat)), valid

    def window(self, radius: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Cached window of every block: ``index (num_blocks, W)`` and an additive float mask
        ``(num_blocks, W * block_size)`` (0 inside, ``-inf`` outside the lattice), or None
        when every window lies inside the lattice."""
        return _window(self, tuple(radius))


@lru_cache(maxsize=64)
def _window(lattice: BlockLattice, radius: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor | None]:
    index, valid = lattice.neighbours(radius)
    if bool(valid.all()):
        return index, None
    mask = torch.zeros(valid.shape).masked_fill(~valid, float("-inf"))
    return index, mask.repeat_interleave(lattice.block_size, dim=-1)
