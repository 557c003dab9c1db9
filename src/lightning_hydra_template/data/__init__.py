"""LightningDataModules: arrays in memory, image files on disk, and the loaders and samplers they share."""
