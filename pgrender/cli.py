"""The pgrender command line, declared with click: one <verb>_command per command, which calls the
command's function in pgrender.commands (where it runs, and where errors become text).

click gives the help, the shell completion and the usage errors. The usual command lines skip it:
pgrender.direct parses them with a table generated from these declarations (pgrender.cli_compile)
and calls pgrender.commands itself, and hands click whatever it does not parse as click would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from pgrender import __version__, commands
from pgrender.cmp import DEFAULT_KEY_FILE
from pgrender.convert import CONVERTERS
from pgrender.errors import PgrenderError, UsageError
from pgrender.providers import SECRETS_PROVIDERS

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


class _Commands(click.Group):
    """The command group; an exception that is not a user's mistake is reported as a bug."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (PgrenderError, click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:
            commands.broken_pipe()
        except KeyboardInterrupt:  # "Aborted!" as click says it, or that the output was written
            commands.interrupted()
        except Exception:
            commands.internal_error()


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
# pgrender.__version__ is the one place the version is written (pyproject.toml reads it too).
@click.version_option(version=__version__, prog_name="pgrender")
def cli() -> None:
    """Compile PostgresCluster specs into plain, kustomize-ready Kubernetes YAML."""


option_config = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Repository config (default: ./pgrender.yaml when present).",
)


class RegisteredName(click.ParamType[str]):
    """A name from a provider registry, looked up when used (providers.py is the one list)."""

    name = "provider"

    def __init__(self, registry: dict[str, str]) -> None:
        self.registry = registry

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[" + "|".join(self.registry) + "]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if value not in self.registry:
            self.fail(f"{value!r} is not one of {', '.join(self.registry)}", param, ctx)
        return str(value)

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(name) for name in self.registry if name.startswith(incomplete)]


option_namespace = click.option(
    "--namespace",
    "namespace",
    help="Namespace for specs without metadata.namespace (default: `namespace` in pgrender.yaml).",
)
option_provider = click.option(
    "--secrets-provider",
    type=RegisteredName(SECRETS_PROVIDERS),
    help="How Secrets reach the cluster (default: pgrender.yaml, else derived): derived writes them "
    "in plaintext, existing leaves them out for other means, sealed writes SealedSecrets, external writes "
    "ExternalSecrets that read them from a store (secrets.external in pgrender.yaml).",
)
option_sealing_certificate = click.option(
    "--sealing-certificate",
    type=click.Path(dir_okay=False),
    help="The sealed-secrets controller's certificate (PEM; default: secrets.sealed.certificate in pgrender.yaml), "
    "for --secrets-provider sealed. Never fetched: `kubeseal --fetch-cert > FILE` once.",
)


# What each command reads besides its options: files and environment, listed under its --help.
# "\b" keeps click from re-wrapping the lines.
_CONFIG_READ = "  pgrender.yaml     ./pgrender.yaml or --config: specs, output, namespace, secrets"
_SPECS_READ = (
    "  SPECS             spec files, '-' for standard input (default: pgrender.yaml's specs)\n"
    "  PGRENDER_TRUSTED_SOURCES  sources in other namespaces a standby or clone may name"
)
_KEY_READ = (
    "  the root key      --key-file, secrets.keyFile of pgrender.yaml, or PGRENDER_KEY\n"
    "  PGRENDER_KEY      the root key itself (what `pgrender keygen` prints)\n"
    "  PGRENDER_ALLOW_TEST_KEY=1  accept the published test key (tests and demos only)\n"
    "  PGRENDER_SEALING_KEY_SHA256  provider sealed: the controller key the certificate must hold"
)
_RECORD_READ = (
    "  the record        .pgrender-record in the output dir: when nothing changed, no render\n"
    "  XDG_CACHE_HOME    its stat cache: $XDG_CACHE_HOME/pgrender (default ~/.cache/pgrender)"
)
RENDER_READS = f"""\b
Reads:
{_SPECS_READ}
{_CONFIG_READ}
{_KEY_READ}
  the output dir    what is there now: refused changes, kept SealedSecret ciphertexts
{_RECORD_READ}
"""
VALIDATE_READS = f"""\b
Reads:
{_SPECS_READ}
{_CONFIG_READ}
{_RECORD_READ}
Needs no key. Warns (standard error) about certificates not yet valid, expired or ending soon.
"""
DIFF_READS = f"""\b
Reads:
  PATHS             two rendered directories, or one compared with git (--rev)
{_CONFIG_READ}
  git               the output directory as committed (--rev), through the git program
For a fresh render (no directories, no --rev), what render reads:
{_SPECS_READ}
{_KEY_READ}
  the output dir    what the render is compared with
"""
LINT_READS = f"""\b
Reads:
  PATHS             rendered files or directories, '-' for standard input
{_CONFIG_READ}
  kubeconform       with --kubeconform, from PATH
"""
CMP_GENERATE_READS = """\b
Runs in the app directory Argo CD checked out. Reads:
  pgrender.yaml     in that directory: specs, output, namespace, secrets
  ARGOCD_APP_NAMESPACE  the Application's destination namespace (specs without one)
  ARGOCD_APP_PARAMETERS the plugin parameters (JSON); else PARAM_SECRETS_PROVIDER, PARAM_KEY_FILE
  ARGOCD_ENV_PGRENDER_SECRETS_PROVIDER, ARGOCD_ENV_PGRENDER_KEY_FILE  the Application's plugin env
  the root key      the key-file parameter, ARGOCD_ENV_PGRENDER_KEY_FILE, PGRENDER_KEY, else
                    {default_key} (mounted from a Secret); never pgrender.yaml's keyFile
  PGRENDER_ALLOW_TEST_KEY=1  accept the published test key (tests and demos only)
  PGRENDER_SEALING_KEY_SHA256  provider sealed: the controller key the certificate must hold
  PGRENDER_TRUSTED_SOURCES  sources in other namespaces a standby or clone may name
  the output dir    pgrender.yaml's output, when committed: kept SealedSecret ciphertexts
Parameters win over ARGOCD_ENV_*, which win over pgrender.yaml.
"""


@cli.command("render", epilog=RENDER_READS)
@click.argument("specs", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Write a kustomize base here.")
@click.option("--stdout", "to_stdout", is_flag=True, help="Write one YAML stream to standard output.")
@click.option("--write", "write_config", is_flag=True, help="Rewrite the output directory of pgrender.yaml.")
@click.option("--only-secrets", is_flag=True, help="Only the Secrets (with --stdout), e.g. for kubeseal.")
@click.option(
    "--exit-code",
    is_flag=True,
    help="With -o/--write: exit 1 when the output changed (files created, changed or removed), as hooks need.",
)
@click.option(
    "--allow-secrets-in-git",
    is_flag=True,
    help="Write derived (plaintext) Secrets into a git work tree anyway; for published test keys only.",
)
@click.option(
    "--previous",
    "previous_dir",
    type=click.Path(file_okay=False),
    help="Earlier output whose SealedSecret ciphertexts are kept while their values are unchanged "
    "(default: the output directory; with --stdout, none).",
)
@option_key_file
@option_provider
@option_sealing_certificate
@option_namespace
@option_config
@option_format
def render_command(**params: Any) -> None:
    """Render SPECS into a kustomize base (-o DIR, --write) or a YAML stream (--stdout)."""
    _run(commands.render, params)


@cli.command("validate", epilog=VALIDATE_READS)
@click.argument("specs", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
@option_namespace
@option_config
@option_format
def validate_command(**params: Any) -> None:
    """Check SPECS (or the specs of pgrender.yaml) without rendering; needs no key."""
    _run(commands.validate, params)


@cli.command("check", epilog=RENDER_READS)
@click.argument("specs", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-o", "--output", type=click.Path(file_okay=False), help="The rendered directory to compare.")
@option_key_file
@option_provider
@option_sealing_certificate
@option_namespace
@option_config
@option_format
def check_command(**params: Any) -> None:
    """Re-render in memory and compare with the output directory; exit 1 with a diff when stale."""
    _run(commands.check, params)


@cli.command("diff", epilog=DIFF_READS)
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--rev",
    "revs",
    multiple=True,
    metavar="REV",
    help="Compare the output directory as committed at REV (give two for REV_A REV_B; one: against the work tree).",
)
@click.option(
    "-o", "--output", type=click.Path(file_okay=False), help="The rendered directory (default: pgrender.yaml's)."
)
@click.option(
    "--acknowledge",
    "acknowledge",
    multiple=True,
    metavar="ID",
    help="Accept a refused or risky change by its id (repeatable); for clusters whose spec is gone.",
)
@option_key_file
@option_provider
@option_sealing_certificate
@option_namespace
@option_config
@option_format
def diff_command(**params: Any) -> None:
    """Classify what changes for the running clusters: OLD NEW directories, --rev, or a fresh render.

    Each change is no-op, live, restart, job, manual, refused or risk; exit 1 while a refused or
    risky change is not acknowledged (spec.acknowledgedChanges, or --acknowledge ID).
    """
    _run(commands.diff, params)


@cli.command("lint", epilog=LINT_READS)
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--kubernetes-version", help="Kubernetes minor to validate against (default: pgrender.yaml, or 1.30).")
@click.option("--kubeconform", "use_kubeconform", is_flag=True, help="Also run a kubeconform binary from PATH.")
@option_config
@option_format
def lint_command(**params: Any) -> None:
    """Validate rendered YAML (PATHS, or the output of pgrender.yaml) against Kubernetes schemas."""
    _run(commands.lint, params)


@cli.command("convert")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--from",
    "operator",
    required=True,
    type=RegisteredName(CONVERTERS),
    help="The operator whose custom resources FILES hold.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(),
    help="Write the specs into this file, or one file per cluster into this directory (an existing "
    "directory, or a path ending in /). Default: standard output.",
)
@click.option("--namespace", "namespace", help="metadata.namespace for resources without one.")
@click.option("--force", is_flag=True, help="Replace files that exist.")
@click.option("--strict", is_flag=True, help="Write nothing (exit 2) when a field would be left out or changed.")
@option_format
def convert_command(**params: Any) -> None:
    """Convert an operator's custom resources (FILES, - for standard input) into pgrender specs.

    Writes one PostgresCluster per custom resource, with spec.naming keeping the Secret and Service
    names applications use, and prints a note for every field it left out or changed. Exit 0 when
    everything was carried over, 1 when a note says a field was left out or changed, 2 on bad input.
    """
    _run(commands.convert, params)


@cli.group("cmp")
def cmp_group() -> None:
    """Argo CD Config Management Plugin entry points."""


@cmp_group.command("generate", epilog=CMP_GENERATE_READS.format(default_key=DEFAULT_KEY_FILE))
def cmp_generate_command() -> None:
    """Print the rendered objects of the app directory for Argo CD; logs go to stderr."""
    _run(commands.cmp_generate, {})


@cmp_group.command("parameters")
def cmp_parameters_command() -> None:
    """Print the parameter announcements (JSON) for plugin.yaml's parameters.dynamic."""
    _run(commands.cmp_parameters, {})


@cli.command("explain")
@click.argument("field", default="", metavar="[FIELD.PATH]")
@click.option("--config", "of_config", is_flag=True, help="A field of pgrender.yaml instead of the spec.")
def explain_command(**params: Any) -> None:
    """Describe a spec field (spec.proxy.pgBouncer.poolMode; list items need no index): its type,
    default, allowed values, description, sub-fields, and the objects it ends up in."""
    _run(commands.explain, params)


@cli.command("schema")
@click.option("-o", "--output", default="schemas", show_default=True, type=click.Path(file_okay=False))
@click.option(
    "--print-path",
    is_flag=True,
    help="Print the directory of the schemas installed with pgrender (for an editor's settings); write nothing.",
)
def schema_command(**params: Any) -> None:
    """Write the JSON Schemas of the spec and of pgrender.yaml (for editors: # yaml-language-server:
    $schema=..., or an association of *.pgcluster.yaml in the editor's settings)."""
    _run(commands.schema, params)


@cli.command("keygen")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write the key to this new file (mode 0600; missing directories are made 0700).",
)
def keygen_command(**params: Any) -> None:
    """Make a new root key for the derived secrets provider."""
    _run(commands.keygen, params)


def _run(command: Callable[..., None], params: dict[str, Any]) -> None:
    commands.starting()
    try:
        command(**params)
    except UsageError as exc:
        raise click.UsageError(exc.message) from None  # click adds the command's usage


def main() -> None:
    """The console script's full path: the command line as click parses it."""
    commands.leave(cli)
