"""Names of the fleet health metrics in CloudWatch (the edge publishes them, rollout and dashboards read them)."""

from __future__ import annotations

NAMESPACE = "edgecv/fleet"
DIM_RING = "Ring"
DIM_MODEL_VERSION = "ModelVersion"
DIM_SITE = "SiteId"

LATENCY_MS = "FrameLatencyMs"            # frame-to-decision latency, one value per frame (p95/p99 statistics)
LATENCY_P99_MS = "FrameLatencyP99Ms"     # each device's p99 over its reporting interval (what the ring gate reads)
FPS = "FramesPerSecond"
DROPPED_FRAMES = "DroppedFrames"
CONFIDENCE = "DetectionConfidence"       # mean detection confidence per reporting interval
DECISION_RATE = "DecisionsPerMinute"
HARD_NEGATIVE_RATE = "HardNegativeRate"
SMOKE_TEST_FAILURES = "SmokeTestFailures"  # OTA agent: smoke test after load, before switch
ROLLOUT_STATE = "RolloutRing"            # the rollout publishes the ring index it reached
