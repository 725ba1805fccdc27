"""Self-supervised pretraining on unlabeled volumes (the light-sheet paper's masked
reconstruction and EMA-teacher distillation), on one process or many through torchrun (DDP)."""
