"""Per-voxel features for instant classifiers: a classic filter bank and a model's own features."""
