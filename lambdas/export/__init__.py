"""The export step of the training pipeline."""
