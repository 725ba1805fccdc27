"""The patch-wise inference engine: tiling, blending, resampling, progress and cancel."""
