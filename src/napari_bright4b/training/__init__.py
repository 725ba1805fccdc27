"""Supervised training, fine-tuning and the recipes of the bundled models.

The training loop lives here (:mod:`.trainer`, with :mod:`.schedule`, :mod:`.state`,
:mod:`.losses` and :mod:`.patches`); learning from painted strokes in :mod:`.finetune`,
self-supervised pretraining in :mod:`.pretrain`, and how each bundled model is made in
:mod:`.recipes`.
"""
