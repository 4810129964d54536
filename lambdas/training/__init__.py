"""Start and poll the training job (SageMaker in AWS, the local emulator on moto)."""
