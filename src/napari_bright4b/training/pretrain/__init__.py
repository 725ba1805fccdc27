"""Self-supervised pretraining on unlabeled volumes (the light-sheet paper's masked
reconstruction so far), on one process or many through torchrun (DDP)."""
