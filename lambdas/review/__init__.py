"""The review step of the training pipeline."""
