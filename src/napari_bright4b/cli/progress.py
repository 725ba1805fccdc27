"""A terminal progress bar for tile-by-tile work (on stderr, off with ``--json`` or no terminal)."""

from __future__ import annotations

import sys


class TileProgress:
    """``progress(done, total)`` callback drawing a tqdm bar; use as a context manager."""

    def __init__(self, description: str, enabled: bool):
        self.description, self.enabled, self.bar = description, enabled and sys.stderr.isatty(), None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.description, unit="tile", file=sys.stderr, leave=False)
        self.bar.update(done - self.bar.n)

    def __enter__(self) -> TileProgress:
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()
