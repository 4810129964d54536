"""The register step of the training pipeline."""
