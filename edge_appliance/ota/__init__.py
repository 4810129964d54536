"""The OTA agent: receive a job, download and verify a signed bundle, load it beside the serving version,
smoke-test it, switch traffic, retire the old version, report. Every step is journaled (see docs/ota.md)."""
