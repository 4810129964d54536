"""`edgecv greengrass ...`: check the component recipes, build their artifacts, run a site group locally.

Exit codes: 0 done, 1 a recipe, build or deployment problem (one line on stderr), 2 usage errors.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from contracts.errors import EdgecvError
from greengrass_components import ARTIFACT_BUCKET_PLACEHOLDER, RECIPES_DIR

greengrass_app = typer.Typer(no_args_is_help=True, add_completion=False,
                             help="Greengrass v2 components: validate recipes, build artifacts, deploy locally.")
err = Console(stderr=True)
out = Console()


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"error: {' '.join(str(message).split())}", highlight=False, soft_wrap=True, markup=False)
    raise typer.Exit(code)


def _platforms(recipe) -> str:  # type: ignore[no-untyped-def]
    return ", ".join(f"{m.Platform.os.value}/{m.Platform.architecture.value}" for m in recipe.Manifests)


@greengrass_app.command("validate")
def validate_command(
    directory: Annotated[Path, typer.Argument(help="folder of recipe JSON files")] = RECIPES_DIR,
) -> None:
    """Check every recipe in DIR: one line per recipe; exit 1 with the first problem."""
    from greengrass_components.validate import validate_directory

    try:
        recipes = validate_directory(directory)
    except EdgecvError as exc:
        fail(str(exc))
    for name, recipe in sorted(recipes.items()):
        deps = ", ".join(f"{d} {s.VersionRequirement} {s.DependencyType.value}"
                         for d, s in recipe.ComponentDependencies.items()) or "-"
        access = recipe.default_configuration.get("accessControl") or {}
        grants = sum(len(p.get("resources", [])) for policies in access.values() for p in policies.values())
        out.print(f"ok {name} {recipe.ComponentVersion} [{_platforms(recipe)}] depends on: {deps}; "
                  f"IPC: {grants} resource(s) in {len(access)} service(s)", highlight=False, soft_wrap=True,
                  markup=False)


@greengrass_app.command("build")
def build_command(
    out_dir: Annotated[Path, typer.Option("--out", help="where the wheel, constraints and rendered recipes go")],
    bucket: Annotated[str, typer.Option(help="S3 bucket the artifacts will be uploaded to "
                                              f"(default: keep the {ARTIFACT_BUCKET_PLACEHOLDER} placeholder)")
                      ] = ARTIFACT_BUCKET_PLACEHOLDER,
    recipes: Annotated[Path, typer.Option(help="folder of source recipes")] = RECIPES_DIR,
) -> None:
    """Build the project wheel and a constraints file; write the recipes with artifact URIs and digests."""
    from greengrass_components.build import build

    try:
        result = build(out_dir, bucket=bucket, recipes_dir=recipes)
    except EdgecvError as exc:
        fail(str(exc))
    for artifact in result.artifacts:
        out.print(f"artifact {artifact.uri} sha256={artifact.sha256} ({artifact.size} bytes)", highlight=False,
                  soft_wrap=True, markup=False)
    for name, path in sorted(result.recipes.items()):
        out.print(f"recipe {name} -> {path}", highlight=False, soft_wrap=True, markup=False)


@greengrass_app.command("deploy-local")
def deploy_local_command(
    group: Annotated[Path, typer.Option("--group", help="site group file (edgecv-greengrass-group/1)")],
    root: Annotated[Path | None, typer.Option(help="where work dirs and logs go "
                                                   "(default: .edgecv/greengrass/<group>)")] = None,
    seconds: Annotated[float | None, typer.Option(min=0, help="stop after this long (default: until Ctrl-C or "
                                                                 "every component has finished)")] = None,
    recipes: Annotated[Path, typer.Option(help="folder of recipes")] = RECIPES_DIR,
) -> None:
    """Run a site group's components as local processes from the same recipes; stop them all on exit."""
    from edgecv.local_greengrass import ComponentState, SiteGroup, deploy_group, load_group_recipes

    try:
        site_group = SiteGroup.load(group)
        loaded = load_group_recipes(recipes)
    except EdgecvError as exc:
        fail(str(exc))
    root = root or Path(".edgecv/greengrass") / site_group.group
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with deploy_group(site_group, root, loaded) as deployments:
            for deployment in deployments:
                names = ", ".join(p.name for p in deployment.plan.components)
                aws = ", ".join(deployment.plan.left_to_aws)
                out.print(f"site {deployment.plan.thing_name}: running {names} (logs: {deployment.plan.root}/logs)"
                          + (f"; left to AWS in a real deployment: {aws}" if aws else ""), highlight=False,
                          soft_wrap=True, markup=False)
            deadline = None if seconds is None else time.monotonic() + seconds
            done = {ComponentState.FINISHED, ComponentState.BROKEN}
            while not stop.wait(0.5):
                states = [s for d in deployments for s in d.poll().values()]
                if all(s in done for s in states) or (deadline is not None and time.monotonic() >= deadline):
                    break
            for deployment in deployments:
                line = ", ".join(f"{n}={s.value}" for n, s in deployment.states().items())
                out.print(f"site {deployment.plan.thing_name}: {line}", highlight=False, soft_wrap=True,
                          markup=False)
    except KeyboardInterrupt:
        err.print("interrupted: components stopped")
    except EdgecvError as exc:
        fail(str(exc))
    finally:
        signal.signal(signal.SIGTERM, previous)
