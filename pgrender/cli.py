"""The pgrender command line: one <verb>_command per command; the only place errors become text."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from pgrender.errors import PgrenderError, Problem, SpecError

MAX_PROBLEMS = 50
F = TypeVar("F", bound=Callable[..., Any])


def format_problems(problems: tuple[Problem, ...], fmt: str) -> str:
    """Text is `file:line:col: path: message`, sorted and capped; json and github for machines."""
    if fmt == "json":
        return json.dumps([p.__dict__ for p in problems], indent=2, sort_keys=True) + "\n"
    lines = []
    for p in problems[:MAX_PROBLEMS]:
        where = p.file + (f":{p.line}:{p.column}" if p.line else "")
        what = f"{p.path}: {p.message}" if p.path else p.message
        if fmt == "github":
            loc = f"file={p.file}" + (f",line={p.line},col={p.column}" if p.line else "")
            lines.append(f"::error {loc}::{_github_escape(what)}")
        else:
            lines.append(f"{where}: {what}")
    if len(problems) > MAX_PROBLEMS:
        lines.append(f"... and {len(problems) - MAX_PROBLEMS} more")
    return "\n".join(lines) + "\n"


def _github_escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _fail(exc: PgrenderError, fmt: str) -> None:
    if isinstance(exc, SpecError):
        click.echo(format_problems(exc.problems, fmt), err=True, nl=False)
    elif fmt == "json":
        click.echo(json.dumps([{"message": str(exc)}], indent=2), err=True)
    elif fmt == "github":
        click.echo(f"::error::{_github_escape(str(exc))}", err=True)
    else:
        click.echo(f"pgrender: {exc}", err=True)
    sys.exit(2)


option_format = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="How problems are reported: for people, as one JSON document, or as GitHub annotations.",
)
option_key_file = click.option(
    "--key-file",
    type=click.Path(dir_okay=False),
    help="Root key for the derived secrets (else the PGRENDER_KEY environment variable).",
)
arg_specs = click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pgrender")
def cli() -> None:
    """Compile PostgresCluster specs into plain, kustomize-ready Kubernetes YAML."""


@cli.command("render")
@arg_specs
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Write a kustomize base here.")
@click.option("--stdout", "to_stdout", is_flag=True, help="Write one YAML stream to standard output.")
@click.option(
    "--allow-secrets-in-git",
    is_flag=True,
    help="Write derived (plaintext) Secrets into a git work tree anyway; for published test keys only.",
)
@option_key_file
@option_format
def render_command(
    specs: tuple[str, ...],
    output: str | None,
    to_stdout: bool,
    allow_secrets_in_git: bool,
    key_file: str | None,
    fmt: str,
) -> None:
    """Render SPECS into a kustomize base (-o DIR) or a YAML stream (--stdout)."""
    from pgrender import write
    from pgrender.gitcheck import refuse_plaintext_in_git
    from pgrender.render import Request, render

    if bool(output) == to_stdout:
        raise click.UsageError("give exactly one of -o/--output DIR or --stdout")
    try:
        if output and not allow_secrets_in_git:
            refuse_plaintext_in_git(Path(output))
        rendering = render(Request(tuple(specs), key_file))
        if to_stdout:
            sys.stdout.write(write.stream(rendering))
            return
        assert output is not None
        content = write.files(rendering)
        write.write(output, content)
    except PgrenderError as exc:
        _fail(exc, fmt)
    click.echo(f"wrote {len(content)} files to {output}", err=True)


@cli.command("validate")
@arg_specs
@option_format
def validate_command(specs: tuple[str, ...], fmt: str) -> None:
    """Check SPECS without rendering; needs no key."""
    from pgrender.render import validate

    try:
        plans = validate(tuple(specs))
    except PgrenderError as exc:
        _fail(exc, fmt)
    if fmt == "json":
        click.echo("[]")
    elif fmt == "text":
        click.echo(f"{len(plans)} cluster(s) valid", err=True)


@cli.command("schema")
@click.option("-o", "--output", default="schemas", show_default=True, type=click.Path(file_okay=False))
def schema_command(output: str) -> None:
    """Write the JSON Schema of the spec (for editors: # yaml-language-server: $schema=...)."""
    from pgrender.schema import write_schemas

    for path in write_schemas(Path(output)):
        click.echo(f"wrote {path}", err=True)


@cli.command("keygen")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the key to this new file (mode 0600).")
def keygen_command(output: str | None) -> None:
    """Make a new root key for the derived secrets provider."""
    from pgrender.secrets import keys

    key = keys.generate()
    if output is None:
        click.echo(key)
        return
    path = Path(output)
    try:
        fd = path.open("x", encoding="utf-8")
    except FileExistsError:
        click.echo(f"pgrender: {output}: exists; a root key is never overwritten", err=True)
        sys.exit(2)
    with fd:
        path.chmod(0o600)
        fd.write(key + "\n")
    click.echo(f"wrote a new root key to {output}; keep it out of git", err=True)


def main() -> None:
    cli()
