# The processing image: the training pipeline's work that needs Triton or the teacher networks, run as
# SageMaker Processing jobs (`lambdas.common.processing`): the evaluation gate (`edgecv.jobs.evaluate_candidate`)
# and teacher labeling (`edgecv.jobs.label_samples`; the teacher networks come with `training/teacher/`).
# SageMaker runs `python -m <module> --input-root /opt/ml/processing/input --output-root /opt/ml/processing/output`.
#
#   docker build -f docker/processing.Dockerfile -t edgecv-processing .
#   (push to ECR and deploy with -c 'edgecv={"processing_image_uri": "<account>.dkr.ecr.<region>.amazonaws.com/edgecv-processing:<tag>"}')
#
# Not built on the development machines (no Docker there); locally the same modules run as processes
# (`lambdas.localcloud.processing_emulator`).
FROM debian:12-slim

# Triton's Python-backend stub links Debian's libpython3.11; the renderer's fonts are not needed here.
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends python3.11 python3.11-venv libpython3.11 ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# The stub ignores PYTHONPATH: it finds packages through the venv's bin first on PATH.
RUN python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1

WORKDIR /opt/edgecv
COPY pyproject.toml README.md ./
COPY contracts contracts
COPY model_repository model_repository
COPY edge_appliance edge_appliance
COPY training training
COPY lambdas lambdas
COPY cdk cdk
COPY greengrass_components greengrass_components
COPY edgecv edgecv
# The base dependencies only: ONNX Runtime, Triton (the nvidia-pytriton wheel), tritonclient. No torch.
RUN pip install --no-cache-dir .

ENTRYPOINT ["python", "-m"]
CMD ["edgecv.jobs.evaluate_candidate", "--help"]
