"""The edgecv cloud plane as a CDK app.

`cdk.definitions` is pure Python (no aws_cdk import): the state-machine definitions (ASL) that both the
CDK stacks and the local runner (`lambdas.localcloud`) use, so AWS and moto execute the same JSON.
"""
