"""Readers and writers (TIFF, OME-TIFF, OME-Zarr) and simulators of microscopy volumes."""
