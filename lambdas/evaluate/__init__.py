"""The evaluate step of the training pipeline."""
