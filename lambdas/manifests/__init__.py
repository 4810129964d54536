"""The truck-manifest feed: the transport management system's manifests, validated into the curated bucket."""
