"""Manifest feed handler: an S3 ObjectCreated notification for `manifests/` in the landing bucket."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field

from lambdas.common import deps
from lambdas.common.powertools import lambda_handler, logger, metrics, parse
from lambdas.manifests.core import FeedOutcome, feed_event


class _Named(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = ""
    key: str = ""


class _S3Entity(BaseModel):
    model_config = ConfigDict(extra="ignore")
    bucket: _Named
    object_: _Named = Field(alias="object")


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")
    s3: _S3Entity


class S3Notification(BaseModel):
    """The part of an S3 event notification the feed reads (Powertools' S3Model also demands fields, e.g.
    userIdentity, that not every sender fills in)."""

    model_config = ConfigDict(extra="ignore")
    Records: list[_Record] = Field(min_length=1)


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> Any:
    notification = parse(S3Notification, event)
    keys = [unquote_plus(record.s3.object_.key) for record in notification.Records]  # S3 URL-encodes keys
    results = feed_event(keys, deps.current())
    for outcome in FeedOutcome:
        metrics.add_metric(name=f"Manifests{outcome.value.title().replace('_', '')}", unit="Count",
                           value=sum(r["outcome"] == outcome.value for r in results))
    for result in results:
        if result["outcome"] == FeedOutcome.PARKED.value:
            logger.warning("manifest parked", extra=result)
    return {"manifests": results}
