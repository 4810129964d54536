"""Greengrass v2 components of an edge site: one recipe per component (`recipes/`), the recipe model and its
validator, recipe variables, and the artifact build. What a Greengrass deployment per site group installs;
`edgecv.local_greengrass` runs the same recipes as local processes."""

from pathlib import Path

RECIPES_DIR = Path(__file__).parent / "recipes"
ARTIFACT_BUCKET_PLACEHOLDER = "EDGECV_ARTIFACT_BUCKET"
