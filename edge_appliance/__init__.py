"""What runs on a site box: Triton supervisor, ingest, tracking, decisions, sampler, buffer, uploader, OTA."""
