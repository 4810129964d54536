"""The autolabel step of the training pipeline."""
