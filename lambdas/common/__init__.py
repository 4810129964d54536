"""Shared by the Lambdas: event models, AWS clients, Powertools, storage layout, errors."""
