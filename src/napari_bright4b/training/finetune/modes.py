"""The ways to learn from painted strokes (torch-free: the CLI lists them before importing torch).

- ``instant``: a classifier on per-voxel features, fitted in seconds (:mod:`.instant`);
- ``head``, ``adapter``, ``full``: what of the network trains in a deep fine-tune
  (:mod:`.adaptation`).

The default is the one that wins on data the bundled models never saw
(``benchmarks/fewshot_external.py``, docs/finetune.md), not on their own simulator.
"""

NETWORK_MODES = ("head", "adapter", "full")
MODES = ("instant", *NETWORK_MODES)
DEFAULT_MODE = "instant"
DEFAULT_NETWORK_MODE = "full"
CLASSIFIERS = ("forest", "logistic")  # instant mode's
