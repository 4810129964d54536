"""Where things are: read once from the Lambda environment (set by the CDK stack or the local cloud)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lambdas.common.errors import BadEventError


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    landing_bucket: str = Field(min_length=3)
    curated_bucket: str = Field(min_length=3)
    artifacts_bucket: str = Field(min_length=3)
    signing_key_id: str = Field(default="", title="KMS key ARN/id (the signing function only)")
    training_role_arn: str = ""
    training_image: str = ""
    training_instance_type: str = "ml.m5.xlarge"
    processing_role_arn: str = ""
    processing_image: str = Field(default="", title="the processing image (Triton + edgecv): evaluation, teacher")
    processing_instance_type: str = "ml.m5.xlarge"
    event_bus: str = "edgecv-incidents"
    ring_groups: list[str] = Field(default_factory=list)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        try:
            return cls(
                landing_bucket=env.get("LANDING_BUCKET", ""), curated_bucket=env.get("CURATED_BUCKET", ""),
                artifacts_bucket=env.get("ARTIFACTS_BUCKET", ""), signing_key_id=env.get("SIGNING_KEY_ID", ""),
                training_role_arn=env.get("TRAINING_ROLE_ARN", ""), training_image=env.get("TRAINING_IMAGE", ""),
                training_instance_type=env.get("TRAINING_INSTANCE_TYPE", "ml.m5.xlarge"),
                processing_role_arn=env.get("PROCESSING_ROLE_ARN", ""),
                processing_image=env.get("PROCESSING_IMAGE", ""),
                processing_instance_type=env.get("PROCESSING_INSTANCE_TYPE", "ml.m5.xlarge"),
                event_bus=env.get("EVENT_BUS", "edgecv-incidents"),
                ring_groups=[g for g in env.get("RING_GROUPS", "").split(",") if g])
        except ValidationError as exc:
            raise BadEventError(f"Lambda environment incomplete: {exc.errors()[0]['loc'][0]} is not set") from exc
