"""The Run tab's **Run on folder...**: the chosen model, with the tab's options, over every
image of a folder, in the tab's background run (a progress bar over files, Cancel).

Outputs go into ``<folder>/bright4b-<model>/``, named from their inputs, beside
``results.csv`` (one row per file: ok or the reason it failed, outputs, seconds, figures).
Inputs are never touched; a file that fails is noted and the run goes on; a cancelled run
keeps the outputs and the table of the files it finished.
"""

from __future__ import annotations

from pathlib import Path

from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import QFileDialog, QPushButton

from ..data.batch import RESULTS, check_distinct, each_file, expand, write_results
from ..data.io import read_image
from ..errors import BadInputError, Cancelled
from ..inference.job import run_job
from ..inference.result_files import write_result
from ..models.session import ModelSession
from ..run_settings import provenance


class FolderRun:
    """The **Run on folder...** button of ``panel`` (a :class:`~.run_panel.RunPanel`)."""

    def __init__(self, panel):
        self.panel = panel
        self.button = QPushButton("Run on folder...")
        self.button.setToolTip("run the model with these options on every TIFF and OME-Zarr image of a folder")
        self.button.clicked.connect(self.choose)

    def choose(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.panel, "Run on every image of a folder")
        if folder:
            self.run(Path(folder))

    def run(self, folder: Path, out: Path | None = None) -> None:
        """Run over ``folder``'s images into ``out`` (default ``<folder>/bright4b-<model>``)."""
        panel = self.panel
        if panel.busy:
            show_info("Bright-4B: a run is under way; wait for it or cancel it first")
            return
        if panel.models.card is None:
            show_error("Bright-4B: no model is selected; pick one in the Model tab")
            return
        try:
            files = expand([folder])
            check_distinct(files)
        except BadInputError as err:
            show_error(f"Bright-4B: {err}")
            return
        out = out or folder / f"bright4b-{panel.models.card.name}"
        spec, options = panel.models.spec, panel.run_options()

        def one(session: ModelSession, path: Path, token):
            if token.cancelled:
                raise Cancelled("cancelled")
            volume = read_image(path)
            result = run_job(session, volume.data, volume.voxel_size, cancel=token, **options)
            return write_result(result, out, path, provenance(result.task, result.settings, result.model, path))

        def work(token):
            out.mkdir(parents=True, exist_ok=True)
            results = []
            yield 0, len(files)
            try:
                with ModelSession(spec, options["device"]) as session:  # loaded once for every file
                    for result in each_file(files, lambda path: one(session, path, token)):
                        results.append(result)
                        yield len(results), len(files)
            finally:  # also when cancelled: the table of the files done
                write_results(out / RESULTS, results)
            return results

        panel.background.start(
            work,
            f"Bright-4B: {panel.models.card.name} on {folder.name}",
            f"Running {panel.models.card.name} on {len(files)} images in {folder.name}…",
            lambda results: self._done(results, out),
            unit="file",
        )

    def _done(self, results, out: Path) -> None:
        failed = [Path(r.input).name for r in results if not r.ok]
        note = f"; failed: {', '.join(failed)}" if failed else ""
        self.panel.status.setText(f"{len(results) - len(failed)} of {len(results)} images done into {out}{note}")
