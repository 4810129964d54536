"""State-machine definitions as ASL dicts with `${Placeholder}` Lambda ARNs.

One source for both places that run them: the CDK stack passes the dict to
`DefinitionBody.from_string` with `definition_substitutions`; the local runner substitutes the ARNs of
the functions it registered with moto and creates the state machine through the Step Functions API.
"""

from cdk.definitions.asl import placeholders, render
from cdk.definitions.rollout import ROLLOUT_FUNCTIONS, rollout_definition
from cdk.definitions.training import TRAINING_FUNCTIONS, training_definition

__all__ = [
    "ROLLOUT_FUNCTIONS",
    "TRAINING_FUNCTIONS",
    "placeholders",
    "render",
    "rollout_definition",
    "training_definition",
]
