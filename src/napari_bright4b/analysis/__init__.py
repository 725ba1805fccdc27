"""Measuring results: metrics now, the model's inner workings later."""
