"""Model configurations, the Bright-4B backbone, heads, checkpoints and the registry."""
