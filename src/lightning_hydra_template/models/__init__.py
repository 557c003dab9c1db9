"""LightningModules, one per task family: steps, losses, metrics and optimizers."""
