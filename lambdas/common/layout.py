"""Key layout of the buckets (one place, so steps and emulators agree)."""

from __future__ import annotations

from contracts.samples import SAMPLE_KEY_PREFIX

FRAME = "frame.jpg"
RECORD = "sample.json"
LABEL = "label.json"


def sample_prefix_of(key: str) -> str | None:
    """`samples/{site}/{camera}/{sample_id}` for a key under it, else None."""
    parts = key.split("/")
    if len(parts) != 5 or parts[0] != SAMPLE_KEY_PREFIX or not all(parts[:4]):
        return None
    return "/".join(parts[:4])


def quarantine_key(sample_prefix: str) -> str:
    """Where the reason for a quarantined sample is kept (in curated; the frame itself never goes there)."""
    return f"quarantine/{sample_prefix}.json"


def manifest_prefix(site_id: str) -> str:
    """Where the truck manifests (`edgecv-manifest/1`) of a site land in the curated bucket: the transport
    management system's feed, one object per truck. The teacher reads a site's labels against them."""
    return f"manifests/{site_id}/"


def run_key(run_id: str, name: str) -> str:
    return f"runs/{run_id}/{name}.json"


def dataset_prefix(run_id: str) -> str:
    return f"datasets/{run_id}/"


def export_prefix(run_id: str) -> str:
    return f"exports/{run_id}/"


def bundle_key(model_name: str, version: int, rollback_of: str | None = None) -> str:
    name = f"rollback-{rollback_of}.tar.gz" if rollback_of else "bundle.tar.gz"
    return f"bundles/{model_name}/{version}/{name}"
