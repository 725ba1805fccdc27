"""Pure-torch building blocks of Bright-4B, one concept per module."""
