"""pgrender.yaml (RenderConfig): the configs this repository ships validate against RepositoryConfig and the JSON
Schema in schemas/; errors carry file:line:col and the field path; unknown keys are rejected; kubernetesVersion is
validated and normalised to 1.MINOR; spec globs and the output directory are relative to the config file."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import yaml
from pydantic import ValidationError

from pgrender.config import RepositoryConfig, load_config
from pgrender.errors import SpecError
from pgrender.providers import SECRETS_PROVIDERS
from pgrender.record import RECORD
from pgrender.schema import config_schema
from tests.conftest import EXAMPLES, GOLDEN_KEY, ROOT, run_cli

SCHEMA_FILE = ROOT / "schemas" / "pgrender-config-v1alpha1.json"
REGISTERED = ", ".join(SECRETS_PROVIDERS)  # every registered secrets provider, as errors list them
SHIPPED = sorted(p for p in ROOT.glob("integrations/**/pgrender.yaml"))


def readme_config() -> str:
    """The pgrender.yaml shown first in README's section `## GitOps: the three doors`."""
    section = (ROOT / "README.md").read_text().split("\n## GitOps: the three doors\n", 1)[1]
    return section.split("```yaml\n", 1)[1].split("```", 1)[0]


# The config README shows, and the one the pre-commit and check tests use.
DOCUMENTED = [
    readme_config(),
    "apiVersion: pgrender.io/v1alpha1\nkind: RenderConfig\nsecrets: {provider: existing}\n",
]


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def test_this_repository_ships_configs() -> None:
    assert [p.relative_to(ROOT).as_posix() for p in SHIPPED] == ["integrations/argocd/app/pgrender.yaml"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.parent.name)
def test_shipped_configs_load(path: Path) -> None:
    config = load_config(path).config
    assert config.api_version == "pgrender.io/v1alpha1"
    assert config.kind == "RenderConfig"


@pytest.mark.parametrize("text", [p.read_text() for p in SHIPPED] + DOCUMENTED)
def test_configs_match_the_json_schema(text: str) -> None:
    jsonschema.validate(yaml.safe_load(text), json.loads(SCHEMA_FILE.read_text()))


@pytest.mark.parametrize("text", DOCUMENTED)
def test_documented_configs_load(text: str) -> None:
    assert RepositoryConfig.model_validate(yaml.safe_load(text)).secrets.provider == "existing"


def test_json_schema_is_the_models() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == config_schema()


@pytest.mark.parametrize(
    "data",
    [{"colour": "red"}, {"secrets": {"keyfile": "root.key"}}, {"secrets": {"provider": "vault"}}, {"specs": []}],
    ids=["unknown-key", "unknown-nested-key", "bad-provider", "empty-specs"],
)
def test_json_schema_rejects_what_the_model_rejects(data: dict[str, object]) -> None:
    """Editors using the schema flag the same mistakes pgrender does."""
    with pytest.raises(ValidationError):
        RepositoryConfig.model_validate(data)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, json.loads(SCHEMA_FILE.read_text()))


def test_json_schema_rejects_a_bad_kubernetes_version() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"kubernetesVersion": "2.1"}, json.loads(SCHEMA_FILE.read_text()))


def test_yaml_language_server_comment_points_at_the_schema() -> None:
    for path in SHIPPED:
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema=")
        assert (path.parent / first.split("=", 1)[1]).resolve() == SCHEMA_FILE.resolve()


def test_defaults() -> None:
    config = RepositoryConfig.model_validate({})
    assert config.specs == ["*.pgcluster.yaml"]
    assert config.output == "rendered"
    assert config.kubernetes_version == "1.30"
    assert config.secrets.provider == "derived"
    assert config.secrets.key_file is None


# Errors: file:line:col: path: message ----------------------------------------------------------------------

TOP_LEVEL = (
    "apiVersion, kind, specs, output, namespace, kubernetesVersion, secrets, requiredVersion, infrastructureRoles"
)
ERRORS = [
    (
        "unknown-key",
        "output: rendered\ncolour: red\n",
        ["pgrender.yaml:2:1: colour: unknown field 'colour'; expected one of " + TOP_LEVEL],
    ),
    (
        "unknown-nested-key",
        "secrets:\n  provider: existing\n  keyfile: root.key\n",
        ["pgrender.yaml:3:3: secrets.keyfile: unknown field 'keyfile'; did you mean 'keyFile'?"],
    ),
    (
        "bad-provider",
        "secrets:\n  provider: vault\n",
        [f"pgrender.yaml:2:3: secrets.provider: unknown secrets provider 'vault'; expected one of {REGISTERED}"],
    ),
    (
        "bad-version",
        "kubernetesVersion: '2.1'\n",
        ["pgrender.yaml:1:1: kubernetesVersion: '2.1' is not a Kubernetes version; expected 1.MINOR such as 1.30"],
    ),
    (
        "unquoted-version-is-a-float",
        "kubernetesVersion: 1.30\n",
        [
            "pgrender.yaml:1:1: kubernetesVersion: expected a string; found the number 1.3 "
            "(YAML reads it as a number: put it in quotes)"
        ],
    ),
    (
        "empty-specs",
        "specs: []\n",
        ["pgrender.yaml:1:1: specs: expected at least 1 item(s); found 0"],
    ),
    (
        "wrong-api-version",
        "apiVersion: pgrender.io/v1\n",
        ["pgrender.yaml:1:1: apiVersion: expected 'pgrender.io/v1alpha1'; found 'pgrender.io/v1'"],
    ),
    (
        "wrong-kind",
        "kind: PostgresCluster\n",
        ["pgrender.yaml:1:1: kind: expected 'RenderConfig'; found 'PostgresCluster'"],
    ),
    (
        "several-problems",
        "colour: red\nsecrets: {provider: vault}\n",
        [
            "pgrender.yaml:1:1: colour: unknown field 'colour'; expected one of " + TOP_LEVEL,
            f"pgrender.yaml:2:11: secrets.provider: unknown secrets provider 'vault'; expected one of {REGISTERED}",
        ],
    ),
    (
        "external-settings",
        "secrets:\n  external:\n    remoteKey: '{namespace}/{user}'\n    property: '{name!r}'\n"
        "    refreshInterval: 1 hour\n    passwordSync: daily\n    store: {kind: Vault}\n",
        [
            "pgrender.yaml:3:5: secrets.external.remoteKey: '{namespace}/{user}' has {user}; expected text and "
            "the plain fields {namespace}, {cluster}, {name}, {property}",
            "pgrender.yaml:4:5: secrets.external.property: '{name!r}' has {name!r}; expected text and "
            "the plain fields {namespace}, {cluster}, {name}, {property}",
            "pgrender.yaml:5:5: secrets.external.refreshInterval: '1 hour' is not a duration; expected a Go "
            "duration such as 1h, 15m or 1h30m, or 0",
            "pgrender.yaml:6:5: secrets.external.passwordSync: 'daily' has 1 fields; expected five fields "
            "(minute hour day-of-month month day-of-week) such as '30 1 * * *', or @daily, @hourly, @weekly, "
            "@monthly, @yearly",
            "pgrender.yaml:7:13: secrets.external.store.kind: expected one of 'ClusterSecretStore' or 'SecretStore'; "
            "found 'Vault'",
        ],
    ),
    (
        "nul-in-paths",
        'output: "out\\0put"\nspecs: ["a\\0.yaml"]\nsecrets: {keyFile: "k\\0", sealed: {certificate: "c\\0"}}\n',
        [
            "pgrender.yaml:1:1: output: a path cannot hold a NUL byte (\\0)",
            "pgrender.yaml:2:9: specs[0]: a path cannot hold a NUL byte (\\0)",
            "pgrender.yaml:3:11: secrets.keyFile: a path cannot hold a NUL byte (\\0)",
            "pgrender.yaml:3:36: secrets.sealed.certificate: a path cannot hold a NUL byte (\\0)",
        ],
    ),
    ("not-a-mapping", "- specs\n", ["pgrender.yaml:1:1: expected a mapping (RenderConfig)"]),
    ("two-documents", "output: a\n---\noutput: b\n", ["pgrender.yaml: expected one YAML document"]),
    ("empty-file", "", ["pgrender.yaml: no YAML document found"]),
    (
        "invalid-yaml",
        "specs: [x\n",
        ["pgrender.yaml:2:1: invalid YAML: while parsing a flow sequence, did not find expected ',' or ']'"],
    ),
]


@pytest.mark.parametrize(("text", "lines"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_config_errors(in_tmp: Path, text: str, lines: list[str]) -> None:
    (in_tmp / "pgrender.yaml").write_text(text)
    result = run_cli("validate")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == lines


@pytest.mark.parametrize(("text", "lines"), [e[1:] for e in ERRORS[:3]], ids=[e[0] for e in ERRORS[:3]])
def test_config_errors_as_github_annotations(in_tmp: Path, text: str, lines: list[str]) -> None:
    (in_tmp / "pgrender.yaml").write_text(text)
    result = run_cli("validate", "--format", "github")
    (where, line, col, message) = lines[0].split(":", 3)
    assert result.stderr == f"::error file={where},line={line},col={col}::{message.strip()}\n"


def test_missing_config_file(in_tmp: Path) -> None:
    result = run_cli("validate", "--config", "nothere.yaml")
    assert result.exit_code == 2
    assert result.stderr == "nothere.yaml: file not found\n"


def test_load_config_raises_spec_error_with_positions(tmp_path: Path) -> None:
    path = tmp_path / "pgrender.yaml"
    path.write_text("output: rendered\nsecrets:\n  provider: existing\n  colour: red\n")
    with pytest.raises(SpecError) as caught:
        load_config(path)
    ((problem),) = caught.value.problems
    assert (problem.file, problem.line, problem.column, problem.path) == (str(path), 4, 3, "secrets.colour")


# kubernetesVersion ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "normalised"),
    [("1.30", "1.30"), ("1.28", "1.28"), ("v1.29", "1.29"), ("1.31.2", "1.31"), ("v1.25.0", "1.25")],
)
def test_kubernetes_version_is_normalised(given: str, normalised: str) -> None:
    assert RepositoryConfig.model_validate({"kubernetesVersion": given}).kubernetes_version == normalised


@pytest.mark.parametrize("given", ["", "1", "2.0", "1.x", "1.30.1.2", "1.30-gke", "one.thirty", "v2.1"])
def test_kubernetes_version_is_validated(given: str) -> None:
    with pytest.raises(ValidationError, match="is not a Kubernetes version"):
        RepositoryConfig.model_validate({"kubernetesVersion": given})


# Paths are relative to the config file ------------------------------------------------------------------------


@pytest.fixture
def nested(in_tmp: Path) -> Path:
    """repo/deploy/pgrender.yaml naming specs in deploy/clusters and deploy/teams/*/; the cwd is the repository root."""
    deploy = in_tmp / "deploy"
    (deploy / "clusters").mkdir(parents=True)
    (deploy / "teams" / "shop").mkdir(parents=True)
    shutil.copyfile(EXAMPLES / "minimal.yaml", deploy / "clusters" / "minimal.pgcluster.yaml")
    shutil.copyfile(EXAMPLES / "pooled.yaml", deploy / "teams" / "shop" / "pooled.pgcluster.yaml")
    shutil.copyfile(EXAMPLES / "hippo.yaml", in_tmp / "hippo.pgcluster.yaml")  # beside the cwd: never matched
    (deploy / "pgrender.yaml").write_text(
        "specs: ['clusters/*.pgcluster.yaml', 'teams/**/*.pgcluster.yaml']\noutput: out\n"
        "secrets: {provider: existing}\n"
    )
    return in_tmp


def test_globs_resolve_relative_to_the_config(nested: Path) -> None:
    assert load_config("deploy/pgrender.yaml").spec_files() == [
        "deploy/clusters/minimal.pgcluster.yaml",
        "deploy/teams/shop/pooled.pgcluster.yaml",
    ]


def test_output_resolves_relative_to_the_config(nested: Path) -> None:
    result = run_cli("render", "--write", "--config", "deploy/pgrender.yaml")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (nested / "deploy" / "out").iterdir()) == [
        RECORD,
        "kustomization.yaml",
        "minimal",
        "pooled",
    ]
    assert not (nested / "out").exists()
    assert run_cli("check", "--config", "deploy/pgrender.yaml").exit_code == 0


def test_validate_uses_the_config_globs(nested: Path) -> None:
    result = run_cli("validate", "--config", "deploy/pgrender.yaml")
    assert result.exit_code == 0
    assert result.stderr.splitlines()[-1] == "2 cluster(s) valid"


def test_glob_matching_nothing_is_an_error(in_tmp: Path) -> None:
    (in_tmp / "pgrender.yaml").write_text("specs: ['clusters/*.pgcluster.yaml']\n")
    result = run_cli("validate")
    assert result.exit_code == 2
    assert result.stderr == "pgrender.yaml: specs: no file matches ['clusters/*.pgcluster.yaml']\n"


def test_glob_error_names_the_config_file_given(in_tmp: Path) -> None:
    (in_tmp / "ci.yaml").write_text("specs: ['clusters/*.pgcluster.yaml']\n")
    result = run_cli("validate", "--config", "ci.yaml")
    assert result.stderr.startswith("ci.yaml: specs: no file matches")


def test_key_file_resolves_relative_to_the_config(nested: Path) -> None:
    shutil.copyfile(GOLDEN_KEY, nested / "deploy" / "root.key")
    config = nested / "deploy" / "pgrender.yaml"
    config.write_text(config.read_text().replace("provider: existing", "provider: derived, keyFile: root.key"))
    result = run_cli("render", "--stdout", "--config", "deploy/pgrender.yaml", env={"PGRENDER_KEY": ""})
    assert result.exit_code == 0, result.stderr


def test_a_key_file_under_an_unknown_users_home_is_an_input_error(nested: Path) -> None:
    """`keyFile: ~nosuchuser/root.key`: read as written, so the key is missing (exit 2); pathlib's
    expanduser raised, an internal error (exit 70)."""
    config = nested / "deploy" / "pgrender.yaml"
    config.write_text(config.read_text().replace("provider: existing", "provider: derived, keyFile: ~nosuchuser/k"))
    result = run_cli("render", "--stdout", "--config", "deploy/pgrender.yaml", env={"PGRENDER_KEY": ""})
    assert result.exit_code == 2 and "~nosuchuser/k" in result.stderr and "internal error" not in result.stderr


# output: stays inside the repository ------------------------------------------------------------------------

OUTSIDE = "leads to {target}, outside the repository that holds this file ({top}), following links"


@pytest.fixture
def repository(in_tmp: Path) -> Path:
    """repo/ (a git repository: its .git is all that tells one) with clusters/pgrender.yaml naming
    clusters/specs/*.yaml, and elsewhere/ beside it; the cwd is their directory."""
    repo = in_tmp / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "clusters" / "specs").mkdir(parents=True)
    shutil.copyfile(EXAMPLES / "minimal.yaml", repo / "clusters" / "specs" / "minimal.yaml")
    (in_tmp / "elsewhere").mkdir()
    return repo


def configured(repo: Path, output: str) -> list[str]:
    (repo / "clusters" / "pgrender.yaml").write_text(
        f"specs: ['specs/*.yaml']\noutput: {output}\nsecrets: {{provider: existing}}\n"
    )
    return ["--config", str(repo / "clusters" / "pgrender.yaml")]


@pytest.mark.parametrize(
    ("output", "link"),
    [
        ("../../elsewhere/base", None),
        ("{tmp}/elsewhere", None),  # absolute
        ("deploy/base", "deploy"),  # a committed link to a directory outside
        ("../../elsewhere", "config"),  # the config read through a link from outside: its repository is found
    ],
    ids=["dot-dot", "absolute", "through-a-link", "config-through-a-link"],
)
def test_an_output_outside_the_repository_is_refused(repository: Path, output: str, link: str | None) -> None:
    output = output.format(tmp=repository.parent)
    options = configured(repository, output)
    if link == "deploy":
        (repository / "clusters" / "deploy").symlink_to(repository.parent / "elsewhere")
    if link == "config":
        (repository.parent / "linked").symlink_to(repository / "clusters")
        options = ["--config", str(repository.parent / "linked" / "pgrender.yaml")]
    target = os.path.realpath(repository / "clusters" / output)
    for command in (("render", "--write"), ("check",), ("diff",)):
        result = run_cli(*command, *options)
        assert result.exit_code == 2, (command, result.stderr)
        assert result.stderr.startswith(f"{options[1]}:2:1: output: {output!r} ")
        assert OUTSIDE.format(target=target, top=repository) in result.stderr
    assert list((repository.parent / "elsewhere").iterdir()) == []
    # What reads no output directory, or is given one, is not held by the config's.
    for command in (("validate",), ("render", "--stdout"), ("render", "-o", str(repository / "mine"))):
        result = run_cli(*command, *options)
        assert result.exit_code == 0, (command, result.stderr)


def test_the_default_output_through_a_link_outside_is_refused(repository: Path) -> None:
    """No output: field, and rendered/ is a link to another checkout: the message says where it came from."""
    (repository / "clusters" / "pgrender.yaml").write_text("specs: ['specs/*.yaml']\nsecrets: {provider: existing}\n")
    (repository / "clusters" / "rendered").symlink_to(repository.parent / "elsewhere")
    config = str(repository / "clusters" / "pgrender.yaml")
    result = run_cli("render", "--write", "--config", config)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{config}: output: 'rendered' (not set: the default) leads to ")
    assert run_cli("render", "-o", str(repository.parent / "elsewhere"), "--config", config).exit_code == 0


@pytest.mark.parametrize(
    ("output", "git", "written"),
    [
        ("../deploy/base", True, "deploy/base"),  # a sibling of the config's directory, inside the repository
        ("out", True, "clusters/out"),
        ("../../elsewhere", False, "../elsewhere"),  # no repository: nothing to stay inside
    ],
)
def test_an_output_inside_the_repository_is_written(repository: Path, output: str, git: bool, written: str) -> None:
    if not git:
        (repository / ".git").rmdir()
    result = run_cli("render", "--write", *configured(repository, output))
    assert result.exit_code == 0, result.stderr
    assert (repository / written / "kustomization.yaml").is_file()


def test_dash_o_writes_outside_the_repository(repository: Path) -> None:
    """The command line is the user's own: -o may name any directory."""
    result = run_cli("render", "-o", str(repository.parent / "elsewhere" / "base"), *configured(repository, "out"))
    assert result.exit_code == 0, result.stderr
    assert (repository.parent / "elsewhere" / "base" / "kustomization.yaml").is_file()
