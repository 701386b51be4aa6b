"""Flux: rendered output is safe under post-build substitution (no "${" outside objects annotated
kustomize.toolkit.fluxcd.io/substitute: disabled), a rendered base directory holds only Kubernetes YAML plus
kustomization.yaml files referencing local files, and the integrations/flux examples carry the fields
kustomize-controller and source-controller require, with ignore rules that keep specs out of the artifact."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import EXAMPLES, GOLDEN_KEY, ROOT, base_spec, find, run_cli
from tests.test_overlays import kustomize_build

FLUX = ROOT / "integrations" / "flux"
SUBSTITUTE = "kustomize.toolkit.fluxcd.io/substitute"
EXAMPLE_SPECS = sorted(EXAMPLES.glob("*.yaml"))
GOLDEN_BASES = sorted(p for p in (ROOT / "golden").glob("*/expected") if p.is_dir())
GO_DURATION = re.compile(r"^(\d+h)?(\d+m)?(\d+s)?$")


def rendered_stream(*specs: Path) -> list[dict[str, Any]]:
    result = run_cli("render", *map(str, specs), "--stdout", "--key-file", str(GOLDEN_KEY))
    assert result.exit_code == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def holds_variable(obj: dict[str, Any]) -> bool:
    return "${" in json.dumps(obj)


def substitution_disabled(obj: dict[str, Any]) -> bool:
    return (obj["metadata"].get("annotations") or {}).get(SUBSTITUTE) == "disabled"


# Substitution -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLE_SPECS, ids=lambda p: p.stem)
def test_rendered_examples_hold_no_variable_outside_disabled_objects(example: Path) -> None:
    exposed = [
        f"{o['kind']}/{o['metadata']['name']}"
        for o in rendered_stream(example)
        if holds_variable(o) and not substitution_disabled(o)
    ]
    assert exposed == []


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("pgHBA", lambda s: s["spec"].update(patroni={"pgHBA": ["hostssl all all 10.0.0.0/8 scram-sha-256 # ${x}"]})),
        ("parameters", lambda s: s["spec"].update(patroni={"parameters": {"application_name": "app-${x}"}})),
    ],
)
def test_a_variable_in_the_patroni_config_disables_substitution_on_its_config_map(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]], where: str, change: Callable[[dict[str, Any]], None]
) -> None:
    spec = base_spec()
    change(spec)
    objects = objects_of(spec)
    config = find(objects, "ConfigMap", "hippo-config")
    assert holds_variable(config)
    assert substitution_disabled(config)
    # The dynamic configuration is in both: bootstrap.yaml, and the reconcile Job's patroni-dynamic.json.
    assert [f"{o['kind']}/{o['metadata']['name']}" for o in objects if substitution_disabled(o)] == [
        "ConfigMap/hippo-config",
        "ConfigMap/hippo-reconcile",
    ]


def test_without_variables_nothing_is_annotated(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    assert not any(substitution_disabled(o) for o in objects_of(base_spec()))


# Flux's substitution rules, as documented (kustomize-controller post-build, strict since v1.9):
# "${var}" and "${var:=default}" are replaced, an undefined variable without a default fails the
# reconciliation, "$$" becomes "$" (so "$${var}" stays "${var}"), and "$var" without braces is left.
FLUX_VARIABLE = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")


def flux_substitute(text: str, variables: dict[str, str]) -> str:
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            end = text.index("}", i)
            name, _, default = text[i + 2 : end].partition(":=")
            assert FLUX_VARIABLE.fullmatch(name), f"Flux cannot parse ${{{name}}}"
            if name not in variables and not default:
                raise KeyError(f"variable {name} is not defined (strict substitution fails)")
            out.append(variables.get(name, default))
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain $HOME text", "plain $HOME text"),
        ("cost $$5", "cost $5"),
        ("AS $$ SELECT 1 $$;", "AS $ SELECT 1 $;"),
        ("env ${env}", "env prod"),
        ("keep $${env}", "keep ${env}"),
        ("size ${size:=1Gi}", "size 1Gi"),
    ],
)
def test_flux_substitution_model(text: str, expected: str) -> None:
    assert flux_substitute(text, {"env": "prod"}) == expected


SPECS_TO_SUBSTITUTE = [
    *EXAMPLE_SPECS,
    *sorted(p for p in (ROOT / "golden").glob("*/spec.yaml") if not p.parent.name.startswith("error-")),
]


@pytest.mark.parametrize("spec", SPECS_TO_SUBSTITUTE, ids=lambda p: p.stem if p.stem != "spec" else p.parent.name)
def test_flux_substitution_leaves_every_unprotected_object_as_written(spec: Path, tmp_path: Path) -> None:
    """Substitution with a variable defined (so Flux substitutes at all) changes no object that is not
    annotated; the objects it would change are exactly the annotated ones."""
    out = tmp_path / "rendered"
    assert run_cli("render", str(spec), "-o", str(out), "--key-file", str(GOLDEN_KEY)).exit_code == 0
    would_change, protected = [], []
    for path in sorted(out.glob("*.yaml")):
        text = path.read_text()
        try:
            survives = flux_substitute(text, {"env": "prod"}) == text
        except KeyError:
            survives = False
        if not survives:
            would_change.append(path.name)
        if path.name != "kustomization.yaml" and substitution_disabled(yaml.safe_load(text)):
            protected.append(path.name)
    assert would_change == protected


def test_sql_with_dollar_quotes_is_protected(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    """pgBouncer's auth function is $$-quoted SQL: unprotected, Flux would write "AS $" and break it."""
    spec = base_spec()
    spec["spec"]["proxy"] = {"pgBouncer": {}}
    config = find(objects_of(spec), "ConfigMap", "hippo-reconcile")
    assert "$$" in json.dumps(config)
    assert substitution_disabled(config)


# The rendered base directory --------------------------------------------------------------------------------


def yaml_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


def check_base(directory: Path) -> list[str]:
    """What Flux would trip over or silently skip in ``directory``: non-YAML files, YAML that is not Kubernetes
    objects, kustomizations referencing anything but their own files and subdirectories, unlisted files."""
    problems = []
    listed: set[Path] = set()
    for path in yaml_files(directory):
        rel = path.relative_to(directory)
        if path.suffix not in (".yaml", ".yml"):
            problems.append(f"{rel}: not a YAML file")
            continue
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        if path.name == "kustomization.yaml":
            (kustomization,) = documents
            if kustomization["kind"] != "Kustomization":
                problems.append(f"{rel}: kind {kustomization['kind']}")
            for entry in kustomization["resources"]:
                target = path.parent / entry
                if "/" in entry.rstrip("/") or entry.startswith(".") or not target.exists():
                    problems.append(f"{rel}: resource {entry!r} is not a file or directory beside it")
                listed.add(target / "kustomization.yaml" if target.is_dir() else target)
            continue
        for doc in documents:
            if not (isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind")):
                problems.append(f"{rel}: not a Kubernetes object")
            elif not (doc.get("metadata") or {}).get("name"):
                problems.append(f"{rel}: {doc['kind']} without metadata.name")
    for path in yaml_files(directory):
        if path.suffix in (".yaml", ".yml") and path != directory / "kustomization.yaml" and path not in listed:
            problems.append(f"{path.relative_to(directory)}: listed in no kustomization.yaml")
    return problems


@pytest.mark.parametrize("base", GOLDEN_BASES, ids=lambda p: p.parent.name)
def test_golden_bases_are_kubernetes_yaml_only(base: Path) -> None:
    assert check_base(base) == []


@pytest.mark.parametrize("example", EXAMPLE_SPECS, ids=lambda p: p.stem)
def test_rendered_base_is_kubernetes_yaml_only(example: Path, tmp_path: Path) -> None:
    out = tmp_path / "rendered"
    assert run_cli("render", str(example), "-o", str(out), "--key-file", str(GOLDEN_KEY)).exit_code == 0
    assert check_base(out) == []


def test_several_clusters_render_to_nested_bases_flux_can_build(tmp_path: Path) -> None:
    """Flux adds subdirectories holding a kustomization.yaml as resources; kustomize builds them all."""
    out = tmp_path / "rendered"
    result = run_cli("render", *map(str, EXAMPLE_SPECS), "-o", str(out), "--key-file", str(GOLDEN_KEY))
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(
        yaml.safe_load((out / "kustomization.yaml").read_text())["resources"]
    )
    assert check_base(out) == []
    assert len(kustomize_build(out)) == len(rendered_stream(*EXAMPLE_SPECS))


def test_check_base_finds_what_breaks_flux(tmp_path: Path) -> None:
    """The checker itself: a foreign file and a spec nobody lists are each reported."""
    out = tmp_path / "rendered"
    assert (
        run_cli("render", str(EXAMPLES / "minimal.yaml"), "-o", str(out), "--key-file", str(GOLDEN_KEY)).exit_code == 0
    )
    (out / "minimal.pgcluster.yaml").write_text((EXAMPLES / "minimal.yaml").read_text())
    (out / "NOTES.txt").write_text("hello\n")
    assert check_base(out) == [
        "NOTES.txt: not a YAML file",
        "minimal.pgcluster.yaml: listed in no kustomization.yaml",
    ]


# The Flux examples -----------------------------------------------------------------------------------------

SOURCES = [d for d in yaml.safe_load_all((FLUX / "gitrepository.yaml").read_text()) if d]
KUSTOMIZATIONS = [d for d in yaml.safe_load_all((FLUX / "kustomizations.yaml").read_text()) if d]


def test_git_repository() -> None:
    (source,) = SOURCES
    assert (source["apiVersion"], source["kind"]) == ("source.toolkit.fluxcd.io/v1", "GitRepository")
    assert GO_DURATION.match(source["spec"]["interval"])
    assert source["spec"]["url"].startswith("https://")
    assert source["spec"]["ref"]["branch"]


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=lambda k: k["metadata"]["name"])
@pytest.mark.parametrize(
    ("field", "check"),
    [
        ("apiVersion", lambda v: v == "kustomize.toolkit.fluxcd.io/v1"),
        ("kind", lambda v: v == "Kustomization"),
        ("spec.prune", lambda v: v is True),
        ("spec.wait", lambda v: v is True),
        ("spec.interval", lambda v: bool(GO_DURATION.match(v))),
        ("spec.retryInterval", lambda v: bool(GO_DURATION.match(v))),
        ("spec.timeout", lambda v: bool(GO_DURATION.match(v))),
        ("spec.path", lambda v: v.startswith("./deploy/postgres/")),
        ("spec.sourceRef", lambda v: v == {"kind": "GitRepository", "name": SOURCES[0]["metadata"]["name"]}),
    ],
)
def test_kustomization_fields(kustomization: dict[str, Any], field: str, check: Callable[[Any], bool]) -> None:
    value: Any = kustomization
    for key in field.split("."):
        value = value[key]
    assert check(value), value


def test_the_rendered_base_is_applied_after_its_secrets() -> None:
    by_name = {k["metadata"]["name"]: k for k in KUSTOMIZATIONS}
    assert by_name["postgres"]["spec"]["path"] == "./deploy/postgres/rendered"
    assert by_name["postgres"]["spec"]["dependsOn"] == [{"name": "postgres-secrets"}]
    assert "postBuild" not in by_name["postgres"]["spec"]


LAYOUT = {
    "deploy/postgres/pgrender.yaml": False,
    "deploy/postgres/orders.pgcluster.yaml": False,
    "deploy/postgres/rendered/kustomization.yaml": True,
    "deploy/postgres/rendered/statefulset-orders-main-0.yaml": True,
    "deploy/postgres/sealed/sealedsecret-orders-pguser-orders.yaml": True,
    "deploy/other/app.yaml": False,
    "README.md": False,
    "ci/pipeline.yml": False,
}


def included(ignore_rules: str, tmp_path: Path) -> dict[str, bool]:
    """Which LAYOUT paths survive gitignore-style rules (as source-controller applies them): asks git."""
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}  # no core.excludesFile
    subprocess.run(["git", "init", "-q", str(tmp_path)], env=env, check=True)
    (tmp_path / ".gitignore").write_text(ignore_rules)
    for rel in LAYOUT:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    ignored = subprocess.run(
        ["git", "check-ignore", "--stdin"],
        input="\n".join(LAYOUT),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    return {rel: rel not in ignored for rel in LAYOUT}


def test_git_repository_ignore_keeps_only_what_flux_applies(tmp_path: Path) -> None:
    assert included(SOURCES[0]["spec"]["ignore"], tmp_path) == LAYOUT


def test_sourceignore_keeps_specs_and_config_out(tmp_path: Path) -> None:
    found = included((FLUX / ".sourceignore").read_text(), tmp_path)
    assert [rel for rel, kept in found.items() if not kept] == [
        "deploy/postgres/pgrender.yaml",
        "deploy/postgres/orders.pgcluster.yaml",
    ]
