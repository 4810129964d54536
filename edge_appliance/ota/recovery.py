"""What a restarted agent does with the job its journal holds: a pure decision, tested on its own.

- Reported: nothing.
- Switched or retired: complete (the new version already serves; retire the old one and report).
- Smoke-tested, and the model server already routes to the targets: the switch happened and the
  journal missed it; complete as if SWITCHED.
- Any other step before the switch: resume, unless the job has been started `max_starts` times
  already: then abandon (restore the old version, report FAILED `abandoned`). A step whose progress
  lives in memory (LOADED, SMOKE_TESTED) resumes from STAGED: the candidate is loaded and tested again.
- Rejected, failed, abandoned: finish ending (restore the old version, report).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from edge_appliance.ota.journal import JournalRecord
from edge_appliance.ota.states import AFTER_SWITCH, ENDING, VOLATILE, JobStep


class RecoveryAction(StrEnum):
    NOTHING = "nothing"
    RESUME = "resume"
    COMPLETE = "complete"
    ABANDON = "abandon"
    FINISH_ENDING = "finish_ending"


@dataclass(frozen=True)
class Recovery:
    action: RecoveryAction
    step: JobStep  # the step to continue from


def plan_recovery(record: JournalRecord, serving: dict[str, int], max_starts: int) -> Recovery:
    step = record.step
    if step is JobStep.REPORTED:
        return Recovery(RecoveryAction.NOTHING, step)
    if step in ENDING:
        return Recovery(RecoveryAction.FINISH_ENDING, step)
    if step in AFTER_SWITCH:
        return Recovery(RecoveryAction.COMPLETE, step)
    targets = record.document.targets
    routed = all(serving.get(model) == version for model, version in targets.items())
    if step is JobStep.SMOKE_TESTED and routed:
        return Recovery(RecoveryAction.COMPLETE, JobStep.SWITCHED)
    if record.starts >= max_starts:
        return Recovery(RecoveryAction.ABANDON, JobStep.ABANDONED)
    return Recovery(RecoveryAction.RESUME, JobStep.STAGED if step in VOLATILE else step)


def restore_plan(previous: dict[str, int], targets: dict[str, int],
                 serving: dict[str, int]) -> tuple[dict[str, int] | None, dict[str, int | None]]:
    """How to put back what served before the job: (versions to switch to or None, {model: version to keep}).

    A model the job introduced (not in `previous`) is unloaded altogether (keep None).
    """
    back = {**serving, **{m: v for m, v in previous.items() if m in targets}}
    for model in targets:
        if model not in previous:
            back.pop(model, None)
    switch_to = back if back != serving else None
    return switch_to, {model: previous.get(model) for model in targets}
