"""LightningDataModules and the in-memory batch loader they share."""
