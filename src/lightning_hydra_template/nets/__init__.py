"""Plain ``torch.nn.Module`` architectures: no Lightning inside, reusable anywhere."""
