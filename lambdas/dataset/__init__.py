"""The dataset step of the training pipeline."""
