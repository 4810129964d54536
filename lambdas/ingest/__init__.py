"""The ingest step of the training pipeline."""
