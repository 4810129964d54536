"""Data lake: landing (samples from the sites), curated (de-identified, labeled), artifacts (bundles).

Every bucket: SSE-KMS with a customer key (rotation on), block public access, TLS-only bucket policy,
versioning, server access logs to a dedicated log bucket. Landing moves to Infrequent Access after N days.
Artifacts: object lock (governance mode) so a released bundle cannot be replaced or deleted.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk.config import CloudConfig
from cdk.nag import acknowledge


class DataLake(Construct):
    def __init__(self, scope: Construct, construct_id: str, config: CloudConfig) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(self, "DataKey", enable_key_rotation=True, alias="alias/edgecv/data",
                           description="edgecv data lake encryption key",
                           removal_policy=cdk.RemovalPolicy.RETAIN)
        self.access_logs = s3.Bucket(
            self, "AccessLogs", encryption=s3.BucketEncryption.S3_MANAGED,  # log delivery cannot use SSE-KMS
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL, enforce_ssl=True, versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(365))],
            removal_policy=cdk.RemovalPolicy.RETAIN)
        acknowledge(self.access_logs, "AwsSolutions-S1",
                    "this is the access-log bucket itself; logging it into itself would loop")
        self.landing = self._bucket("Landing", "landing", lifecycle_rules=[s3.LifecycleRule(
            transitions=[s3.Transition(storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                                       transition_after=cdk.Duration.days(config.landing_transition_days))],
            noncurrent_version_expiration=cdk.Duration.days(90),
            abort_incomplete_multipart_upload_after=cdk.Duration.days(7))])
        self.curated = self._bucket("Curated", "curated", lifecycle_rules=[s3.LifecycleRule(
            noncurrent_version_expiration=cdk.Duration.days(180))])
        self.artifacts = self._bucket(
            "Artifacts", "artifacts", object_lock_enabled=True,
            object_lock_default_retention=s3.ObjectLockRetention.governance(
                cdk.Duration.days(config.artifact_lock_days)))

    def _bucket(self, construct_id: str, log_prefix: str, **kwargs: object) -> s3.Bucket:
        return s3.Bucket(
            self, construct_id, encryption=s3.BucketEncryption.KMS, encryption_key=self.key, bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL, enforce_ssl=True, versioned=True,
            server_access_logs_bucket=self.access_logs, server_access_logs_prefix=f"{log_prefix}/",
            removal_policy=cdk.RemovalPolicy.RETAIN, **kwargs)
