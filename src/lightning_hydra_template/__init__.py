"""PyTorch Lightning + Hydra project template."""

__version__ = "0.1.0"
