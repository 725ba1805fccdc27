"""``python -m napari_bright4b.cli``: the same as the ``bright4b`` command."""

import sys

from . import main

sys.exit(main())
