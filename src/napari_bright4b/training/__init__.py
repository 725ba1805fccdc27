"""Supervised training, fine-tuning and the recipes of the bundled models."""
