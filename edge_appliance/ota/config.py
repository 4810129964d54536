"""The agent's configuration, loaded once at start (pydantic, extra fields refused)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from contracts.bundles import DEFAULT_MAX_BYTES, DeviceClass


class AgentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    root: Path = Field(title="the agent's own folder: journal, downloads, verified bundles, installed.json")
    thing_name: str = Field(min_length=1, max_length=128, title="the IoT thing this agent answers for")
    device_class: DeviceClass = DeviceClass.CPU
    trusted_keys: list[Path] = Field(min_length=1, title="PEM public keys bundles may be signed with")
    max_bundle_bytes: int = Field(default=DEFAULT_MAX_BYTES, ge=1, le=1 << 34)
    max_starts: int = Field(default=3, ge=1, le=20,
                            title="restarts before the switch after which a job is abandoned")
    download_attempts: int = Field(default=5, ge=1, le=100)
    download_backoff_s: float = Field(default=0.5, ge=0.0, le=300.0)
    download_timeout_s: float = Field(default=30.0, gt=0.0, le=3600.0)
    min_free_bytes: int = Field(default=256 << 20, ge=0, title="free disk to keep beyond what a job needs")
    held_out_dir: Path | None = Field(default=None,
                                      title="edgecv-annotations/1 set the smoke test runs (required with Triton)")

    @property
    def journal_dir(self) -> Path:
        return self.root / "journal"

    @property
    def downloads_dir(self) -> Path:
        return self.root / "downloads"

    @property
    def verified_dir(self) -> Path:
        return self.root / "verified"
