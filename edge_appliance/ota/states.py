"""The named steps of an OTA job. The journal records the last step that completed."""

from __future__ import annotations

from enum import StrEnum


class JobStep(StrEnum):
    RECEIVED = "RECEIVED"          # the job document is journaled; the serving versions are remembered
    DOWNLOADING = "DOWNLOADING"    # a download has started (a partial file may exist)
    DOWNLOADED = "DOWNLOADED"      # the bundle's bytes match the job's sha256 and size
    VERIFIED = "VERIFIED"          # signature, files, device class, anti-rollback, targets all check out
    STAGED = "STAGED"              # the verified files are in the model repository
    LOADED = "LOADED"              # the candidate is loaded beside the serving version (not routed)
    SMOKE_TESTED = "SMOKE_TESTED"  # the candidate passed the smoke test
    SWITCHED = "SWITCHED"          # the ensemble routes to the candidate: the point of no return
    RETIRED = "RETIRED"            # the old version is unloaded
    REJECTED = "REJECTED"          # refused (bundle or job); to restore and report
    FAILED = "FAILED"              # failed before the switch; to restore and report
    ABANDONED = "ABANDONED"        # too many restarts before the switch; to restore and report
    REPORTED = "REPORTED"          # the outcome is reported; the job is over


ORDER = [JobStep.RECEIVED, JobStep.DOWNLOADING, JobStep.DOWNLOADED, JobStep.VERIFIED, JobStep.STAGED,
         JobStep.LOADED, JobStep.SMOKE_TESTED, JobStep.SWITCHED, JobStep.RETIRED, JobStep.REPORTED]
BEFORE_SWITCH = frozenset(ORDER[:ORDER.index(JobStep.SWITCHED)])
AFTER_SWITCH = frozenset({JobStep.SWITCHED, JobStep.RETIRED})
ENDING = frozenset({JobStep.REJECTED, JobStep.FAILED, JobStep.ABANDONED})
# the progress of these steps lives in a process or in the model server's memory, not on disk
VOLATILE = frozenset({JobStep.LOADED, JobStep.SMOKE_TESTED})
