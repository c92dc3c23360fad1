"""Transducer networks: encoders, predictor, joiner, checkpoints, streaming search and training."""
