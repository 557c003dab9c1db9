"""Using a trained model: predictions written to files, exported networks with a parity check, an HTTP service."""
