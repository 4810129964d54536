"""Signing: training bundles and signed rollbacks (the only function allowed to kms:Sign)."""
