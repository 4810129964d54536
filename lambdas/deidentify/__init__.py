"""The deidentify step of the training pipeline."""
