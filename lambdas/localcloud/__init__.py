"""The local cloud: moto in server mode + emulators for what moto cannot do. Never part of the Lambda asset.

- `lambda_hook`: runs the real handlers in-process when moto's Step Functions interpreter invokes a Lambda.
- `training_emulator.LocalTrainingEmulator`: SageMaker training as a local process (same SM_* environment).
- `fleet_emulator.SimulatedFleet`: the IoT Jobs device side and the fleet's health metrics.
- `processing_emulator.LocalProcessingEmulator`: SageMaker Processing as a local process (the evaluation job:
  `edgecv.jobs.evaluate_candidate`, a candidate repository and the real `edgecv eval --pin ...`).
- `cloud.LocalCloud`: starts it all and creates the same resources and state machines as the CDK app.
"""
