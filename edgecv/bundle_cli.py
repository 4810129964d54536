"""`edgecv bundle ...`: make signing keys, build signed bundles, verify and inspect them.

Exit codes: 0 done / accepted, 1 refused or failed while working, 2 usage errors (missing or
unreadable arguments and key files). Every message is one line; no tracebacks for bad input.
The verdict of `verify` (accepted/refused) goes to stdout; usage errors go to stderr.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from contracts.bundles import (
    DEFAULT_MAX_BYTES,
    BundleBuildError,
    BundleRefused,
    DeviceClass,
    KeyFileError,
    Lineage,
    LocalSigner,
    ModelSource,
    Signer,
    SigningError,
    TrustedKey,
    build_bundle,
    public_key_pem,
    read_lineage,
    read_manifest_unverified,
    verify_bundle,
    write_key_pair,
)
from contracts.errors import EdgecvError

bundle_app = typer.Typer(no_args_is_help=True, add_completion=False,
                         help="Signed model bundles (edgecv-bundle/1): keygen, build, verify, inspect.")

LINEAGE_FILE = "lineage.json"


def _usage(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _failed(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        _usage(f"{what} {path} not found")


@bundle_app.command()
def keygen(
    out: Annotated[Path, typer.Option("--out", help="folder for signing-key.pem and signing-key.pub.pem")],
    force: Annotated[bool, typer.Option("--force", help="replace existing key files")] = False,
) -> None:
    """Make a development ECDSA P-256 key pair (the private key file is mode 0600)."""
    signer = LocalSigner.generate()
    try:
        private, public = write_key_pair(out, signer, overwrite=force)
    except KeyFileError as exc:
        _usage(str(exc))
    typer.echo(f"wrote {private} (private, 0600) and {public}; key id {signer.key_id}")


def _signer(key: Path | None, kms_key_id: str | None, endpoint_url: str | None, region: str | None) -> Signer:
    if (key is None) == (kms_key_id is None):
        _usage("give exactly one of --key PEM or --kms-key-id ID")
    if key is not None:
        _require_file(key, "signing key")
        try:
            return LocalSigner.from_file(key)
        except KeyFileError as exc:
            _usage(str(exc))
    from edgecv.kms_signer import KmsSigner  # boto3 only when KMS is asked for

    assert kms_key_id is not None
    try:
        return KmsSigner.connect(kms_key_id, endpoint_url=endpoint_url, region=region)
    except SigningError as exc:
        _failed(str(exc))


def _lineage(model_dir: Path, version: int, lineage: Path | None, training_job_id: str | None) -> Lineage:
    source = lineage
    if source is None and (model_dir / str(version) / LINEAGE_FILE).is_file():
        source = model_dir / str(version) / LINEAGE_FILE
    if source is None:
        return Lineage(training_job_id=training_job_id)
    _require_file(source, "lineage file")
    try:
        return read_lineage(source, training_job_id)
    except BundleBuildError as exc:
        _usage(str(exc))


ModelDirArg = Annotated[Path, typer.Argument(
    metavar="MODEL_DIR", help="one model's folder in Triton layout: config.pbtxt, <version>/")]
KeyOpt = Annotated[Path | None, typer.Option("--key", help="a PEM ECDSA P-256 private key")]
KmsKeyOpt = Annotated[str | None, typer.Option("--kms-key-id", help="sign with this KMS key (ARN/id)")]
EndpointOpt = Annotated[str | None, typer.Option("--endpoint-url", help="KMS endpoint, e.g. a moto server")]
LineageOpt = Annotated[Path | None, typer.Option(
    "--lineage", help="training lineage JSON (default: <MODEL_DIR>/<V>/lineage.json when present)")]
NameOpt = Annotated[str | None, typer.Option("--name", help="model name (default: MODEL_DIR's name)")]
RollbackOpt = Annotated[bool, typer.Option("--rollback", help="signed rollback: may be older")]
PublicOutOpt = Annotated[Path | None, typer.Option("--public-key-out", help="also write the public key")]


@bundle_app.command()
def build(
    model_dir: ModelDirArg,
    version: Annotated[int, typer.Option("--version", min=1, help="the model version folder to bundle")],
    device_class: Annotated[DeviceClass, typer.Option("--device-class", help="devices this bundle is for")],
    out: Annotated[Path, typer.Option("--out", help="the bundle file to write (.tar.gz)")],
    key: KeyOpt = None,
    kms_key_id: KmsKeyOpt = None,
    endpoint_url: EndpointOpt = None,
    region: Annotated[str | None, typer.Option("--region", help="KMS region")] = None,
    lineage: LineageOpt = None,
    training_job_id: Annotated[str | None, typer.Option("--training-job-id")] = None,
    name: NameOpt = None,
    rollback: RollbackOpt = False,
    public_key_out: PublicOutOpt = None,
) -> None:
    """Build a signed bundle of one model version."""
    if not model_dir.is_dir():
        _usage(f"model folder {model_dir} not found")
    if not (model_dir / str(version)).is_dir():
        _usage(f"{model_dir} has no version folder {version}")
    signer = _signer(key, kms_key_id, endpoint_url, region)
    lineage_model = _lineage(model_dir, version, lineage, training_job_id)
    try:
        bundle = build_bundle([ModelSource(model_dir, version, name)], device_class, signer, out,
                              lineage=lineage_model, rollback=rollback)
        if public_key_out is not None:
            public_key_out.write_bytes(public_key_pem(signer.public_key()))
    except OSError as exc:
        _failed(f"cannot write {public_key_out}: {exc.strerror or exc}")
    except EdgecvError as exc:
        _failed(str(exc))
    typer.echo(f"built {out}: {bundle.summary()}")


@bundle_app.command()
def verify(
    bundle: Annotated[Path, typer.Argument(metavar="BUNDLE", help="the bundle file")],
    public_key: Annotated[list[Path], typer.Option("--public-key", help="a trusted PEM public key; "
                                                   "repeat for several (key rotation)")],
    device_class: Annotated[DeviceClass | None, typer.Option("--device-class", help="this device")] = None,
    installed_version: Annotated[int | None, typer.Option("--installed-version", min=0,
                                                          help="the version installed now")] = None,
    max_bytes: Annotated[int, typer.Option("--max-bytes", min=1, help="size cap, compressed and "
                                           "extracted")] = DEFAULT_MAX_BYTES,
) -> None:
    """Check a bundle exactly as the OTA agent does before staging it."""
    _require_file(bundle, "bundle")
    trusted: list[TrustedKey] = []
    for path in public_key:
        _require_file(path, "public key")
        try:
            trusted.append(TrustedKey.from_file(path))
        except KeyFileError as exc:
            _usage(str(exc))
    try:
        verified = verify_bundle(bundle, trusted, device_class=device_class,
                                 installed_version=installed_version, max_bytes=max_bytes)
    except BundleRefused as exc:
        typer.echo(f"refused ({exc.reason.value}): {exc.message}")
        raise typer.Exit(1) from None
    typer.echo(f"accepted: {verified.summary()}")


@bundle_app.command()
def inspect(
    bundle: Annotated[Path, typer.Argument(metavar="BUNDLE", help="the bundle file")],
    as_json: Annotated[bool, typer.Option("--json", help="print the manifest as JSON only")] = False,
) -> None:
    """Print a bundle's manifest and lineage as it states them; nothing is verified."""
    _require_file(bundle, "bundle")
    try:
        seen = read_manifest_unverified(bundle)
    except BundleRefused as exc:
        _failed(f"cannot read the manifest ({exc.reason.value}): {exc.message}")
    m = seen.manifest
    if as_json:
        typer.echo(json.dumps(json.loads(seen.raw), indent=2))
        return
    lin = m.lineage
    lines = [
        f"bundle {bundle} (NOT verified: run `edgecv bundle verify` for that)",
        f"format: {m.format}",
        f"models: {m.describe()}",
        f"device class: {m.device_class.value}",
        f"rollback: {'yes' if m.rollback else 'no'}",
        f"created at: {m.created_at.isoformat()}",
        f"signer: {m.signer_key_id} (key {m.signer_fingerprint}); "
        f"signature file {'present' if seen.has_signature else 'absent'}",
        f"lineage: dataset snapshot {lin.dataset_snapshot_hash or '-'}, "
        f"code commit {lin.code_commit or '-'}, training job {lin.training_job_id or '-'}",
        f"files ({len(m.files)}, {m.total_size} bytes):",
        *(f"  {f.sha256[:16]}  {f.size:>12}  {f.path}" for f in m.files),
        "eval metrics:",
        json.dumps(lin.eval_metrics, indent=2) if lin.eval_metrics else "  (none)",
    ]
    typer.echo("\n".join(lines))
