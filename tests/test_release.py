"""Releases: the version is written once and every place that names a release agrees with it; the wheel
`python -m build` makes holds every file the code reads and runs render, check and lint from a fresh
virtualenv; requiredVersion in pgrender.yaml stops every command at another version; the sidecar's Helm
values equal the kustomize Component; shell completion and the README's Renovate recipe work as shown."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

from pgrender import __version__
from pgrender.cli import CMP_GENERATE_READS, DIFF_READS, LINT_READS, RENDER_READS, VALIDATE_READS
from tests.conftest import EXAMPLES, GOLDEN, GOLDEN_KEY, ROOT, run_cli

PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())
README = (ROOT / "README.md").read_text()
ARGOCD = ROOT / "integrations" / "argocd"
# A version that no release will have; 0.0.0 is below every real one.
OTHER = "0.0.0"


def readme_section(title: str) -> str:
    return README.split(f"\n{title}\n", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]


# One version ---------------------------------------------------------------------------------------------


def test_the_version_is_written_once() -> None:
    """pyproject.toml reads pgrender.__version__; it writes no version of its own."""
    assert "version" not in PYPROJECT["project"]
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "pgrender.__version__"}


def test_pgrender_version_prints_it() -> None:
    assert run_cli("--version").output == f"pgrender, version {__version__}\n"


# Where a release is named, and the pattern that finds the version in each (a release is the tag v<version>;
# the image tag is the version alone).
V = r"([0-9]+(?:\.[0-9A-Za-z]+)*)"
NAMED = [
    ("README.md", rf"rev: v{V}"),
    ("README.md", rf"git\+https://\S+@v{V}"),
    ("README.md", rf"pgrender-cmp:{V}"),
    ("README.md", rf"requiredVersion: \"=={V}\""),
    ("README.md", rf"VERSION={V}"),
    ("integrations/ci/github-actions.yml", rf"git\+https://\S+@v{V}"),
    ("integrations/ci/gitlab-ci.yml", rf"git\+https://\S+@v{V}"),
    ("integrations/argocd/Dockerfile", rf"VERSION={V}"),
    ("integrations/argocd/Dockerfile", rf"pgrender-cmp:{V}"),
    ("integrations/argocd/repo-server-patch.yaml", rf"pgrender-cmp:{V}"),
    ("integrations/argocd/kustomization.yaml", rf"newTag: {V}"),
    ("integrations/argocd/helm-values.yaml", rf"pgrender-cmp:{V}"),
    ("CHANGELOG.md", rf"^## {V}$"),
]


@pytest.mark.parametrize(("path", "pattern"), NAMED, ids=[f"{p}:{x}" for p, x in NAMED])
def test_every_place_names_this_version(path: str, pattern: str) -> None:
    found = re.findall(pattern, (ROOT / path).read_text(), flags=re.MULTILINE)
    assert found, f"{path} names no release"
    # The changelog lists older releases too; its newest (the first heading) is this one.
    assert (found[:1] if path == "CHANGELOG.md" else sorted(set(found))) == [__version__]


def test_the_changelog_starts_with_unreleased() -> None:
    headings = re.findall(r"^## (.+)$", (ROOT / "CHANGELOG.md").read_text(), flags=re.MULTILINE)
    assert headings[:2] == ["Unreleased", __version__]


# The sidecar's dependencies ------------------------------------------------------------------------------

LOCK = ARGOCD / "requirements.lock"


def locked() -> dict[str, str]:
    """name → exact version of every requirement of the lock file, each with at least one hash."""
    text = re.sub(r"\\\n\s*", " ", LOCK.read_text())
    pins = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        requirement, *hashes = line.split("--hash=")
        parsed = Requirement(requirement.split(" #")[0].strip())
        (spec,) = parsed.specifier
        assert spec.operator == "==" and hashes and all(h.startswith("sha256:") for h in hashes), line
        pins[parsed.name.replace("_", "-").replace(".", "-").lower()] = spec.version
    return pins


@pytest.mark.parametrize(
    "requirement",
    [*PYPROJECT["project"]["dependencies"], *PYPROJECT["build-system"]["requires"]],
)
def test_the_lock_pins_every_dependency_within_its_range(requirement: str) -> None:
    parsed = Requirement(requirement)
    name = parsed.name.replace("_", "-").replace(".", "-").lower()
    assert parsed.specifier.contains(locked()[name])


# The wheel, installed into a fresh virtualenv -------------------------------------------------------------


class Installed:
    def __init__(self, wheel: Path, env_dir: Path, work: Path) -> None:
        self.wheel = wheel
        self.bin = env_dir / "bin"
        self.work = work

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """A program of the virtualenv, outside this work tree, with nothing of this interpreter's environment."""
        env = {"PATH": f"{self.bin}{os.pathsep}/usr/bin{os.pathsep}/bin", "HOME": str(self.work), "LC_ALL": "C.UTF-8"}
        env["PGRENDER_ALLOW_TEST_KEY"] = "1"
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]], cwd=cwd or self.work, env=env, capture_output=True, text=True
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """One build (sdist, then the wheel from it, as `python -m build` does) of what a release tag holds, and
    one virtualenv with the wheel and its lint extra from the package index."""
    base = tmp_path_factory.mktemp("release")
    source = base / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "pgrender", source / "pgrender", ignore=shutil.ignore_patterns("__pycache__"))
    dist = base / "dist"
    env_dir = base / "venv"
    # The virtualenv is made while the build runs; two processes for the two cores.
    with ThreadPoolExecutor(max_workers=1) as pool:
        made = pool.submit(venv.create, env_dir, with_pip=True)
        command = [sys.executable, "-m", "build", "--outdir", str(dist), str(source)]
        subprocess.run(command, check=True, capture_output=True)
        made.result()
    (wheel,) = dist.glob("*.whl")
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # --no-compile: compiling every module of the dependencies to bytecode took more than half the install.
    subprocess.run(
        [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-compile", f"{wheel}[lint]"],
        check=True,
        capture_output=True,
        env=clean,
    )
    work = base / "work"
    work.mkdir()
    yield Installed(wheel, env_dir, work)


def test_the_wheel_is_named_for_this_version(installed: Installed) -> None:
    assert installed.wheel.name == f"pgrender-{__version__}-py3-none-any.whl"


def test_the_wheel_holds_every_file_of_the_package(installed: Installed) -> None:
    """Data the code reads included: CRD schemas, parameter catalogues, the Jobs' scripts, py.typed."""
    source = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "pgrender").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    assert source - names == set()
    for pattern in ("pgrender/crds/*.json", "pgrender/plan/postgres_parameters/*.json", "pgrender/job_scripts/*.py"):
        assert [n for n in names if Path(n).match(pattern)], pattern
    assert "pgrender/py.typed" in names


def test_the_installed_package_is_the_wheel(installed: Installed) -> None:
    probe = (
        "import importlib.metadata, pgrender; print(pgrender.__file__); print(importlib.metadata.version('pgrender'))"
    )
    result = installed.run("python", "-c", probe)
    location, version = result.stdout.split()
    assert result.returncode == 0, result.stderr
    assert Path(location).is_relative_to(installed.bin.parent) and version == __version__
    assert installed.run("pgrender", "--version").stdout == f"pgrender, version {__version__}\n"


def test_the_installed_pgrender_renders_as_this_tree_does(installed: Installed) -> None:
    spec, key = str(EXAMPLES / "pooled.yaml"), str(GOLDEN_KEY)
    result = installed.run("pgrender", "render", spec, "--stdout", "--key-file", key)
    assert result.returncode == 0, result.stderr
    assert result.stdout == run_cli("render", spec, "--stdout", "--key-file", key).output


def test_the_installed_pgrender_renders_checks_and_lints_a_repository(installed: Installed) -> None:
    repo = installed.work / "repo"
    repo.mkdir()
    shutil.copy2(EXAMPLES / "pooled.yaml", repo / "pooled.pgcluster.yaml")
    (repo / "pgrender.yaml").write_text(
        "apiVersion: pgrender.io/v1alpha1\nkind: RenderConfig\nsecrets: {provider: existing}\n"
        f'requiredVersion: "=={__version__}"\n'
    )
    for command in (["validate"], ["render", "--write"], ["check"], ["lint"]):
        result = installed.run("pgrender", *command, cwd=repo)
        assert result.returncode == 0, (command, result.stderr)
    assert sorted(p.name for p in (repo / "rendered").iterdir())


# requiredVersion -------------------------------------------------------------------------------------------


@pytest.fixture
def repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy2(EXAMPLES / "minimal.yaml", tmp_path / "minimal.pgcluster.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


CONFIG = "apiVersion: pgrender.io/v1alpha1\nkind: RenderConfig\nsecrets: {provider: existing}\n"


def config(required: str) -> str:
    """A pgrender.yaml whose requiredVersion (its fourth line) is ``required`` as YAML text."""
    return f"{CONFIG}requiredVersion: {required}\n"


@pytest.mark.parametrize(
    "required",
    [f'"=={__version__}"', f'"~={__version__}"', f'">={__version__}"', f'">{OTHER},<99"', f'"=={__version__}.*"'],
)
def test_a_matching_version_runs(repository: Path, required: str) -> None:
    (repository / "pgrender.yaml").write_text(config(required))
    result = run_cli("validate")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("required", "named"),
    [
        (
            f'"=={OTHER}"',
            f'install pgrender {OTHER} (pip install "pgrender[lint] @ git+<your mirror of pgrender>@v{OTHER}"',
        ),
        (f'"<{__version__}"', "install a release that matches (pip install"),
        ('"~=99.0"', "pre-commit rev: vX.Y.Z, image pgrender-cmp:X.Y.Z"),
    ],
)
def test_another_version_is_refused_at_its_position(repository: Path, required: str, named: str) -> None:
    (repository / "pgrender.yaml").write_text(config(required))
    result = run_cli("validate")
    expected = (
        f"pgrender.yaml:4:1: requiredVersion: this is pgrender {__version__}, and this repository requires "
        f"pgrender{required.strip(chr(34))}; "
    )
    assert result.exit_code == 2
    assert result.output.startswith(expected) and named in result.output
    assert result.output.rstrip().endswith("or change requiredVersion")


@pytest.mark.parametrize(
    ("required", "expected"),
    [
        ('"0.1.0"', "'0.1.0' is not a version specifier; expected a PEP 440 specifier such as =="),
        ('""', "'' is not a version specifier"),
        ('"== one"', "'== one' is not a version specifier"),
        ("0.1", "expected a string; found the number 0.1"),
    ],
)
def test_a_bad_specifier_is_refused_at_its_position(repository: Path, required: str, expected: str) -> None:
    (repository / "pgrender.yaml").write_text(config(required))
    result = run_cli("validate")
    assert result.exit_code == 2
    assert result.output.startswith("pgrender.yaml:4:1: requiredVersion: ") and expected in result.output


# Every command that reads pgrender.yaml.
DOORS = [
    ["validate"],
    ["render", "--write"],
    ["render", "--stdout"],
    ["check"],
    ["lint"],
    ["diff", "--rev", "HEAD"],
    ["cmp", "generate"],
]


@pytest.mark.parametrize("command", DOORS, ids=" ".join)
def test_every_door_refuses_another_version(repository: Path, command: list[str]) -> None:
    (repository / "pgrender.yaml").write_text(config(f'"=={OTHER}"'))
    result = run_cli(*command)
    assert result.exit_code == 2
    assert "pgrender.yaml:4:1: requiredVersion: this is pgrender" in result.output


def test_packaging_is_imported_only_for_required_version(repository: Path) -> None:
    """Start-up stays lean: a pgrender.yaml without requiredVersion loads without the packaging library."""
    probe = "import sys; import pgrender.config as c; c.load_config(sys.argv[1]); print('packaging' in sys.modules)"
    for required, imported in ((None, "False"), (f'"=={__version__}"', "True")):
        (repository / "pgrender.yaml").write_text(config(required) if required else CONFIG)
        result = subprocess.run(
            [sys.executable, "-c", probe, str(repository / "pgrender.yaml")],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        assert result.stdout.strip() == imported


# The Argo CD Helm chart's values ---------------------------------------------------------------------------

HELM: dict[str, Any] = yaml.safe_load((ARGOCD / "helm-values.yaml").read_text())
PATCH: dict[str, Any] = yaml.safe_load((ARGOCD / "repo-server-patch.yaml").read_text())
PLUGIN: dict[str, Any] = yaml.safe_load((ARGOCD / "plugin.yaml").read_text())


def test_helm_sidecar_is_the_kustomize_sidecar() -> None:
    """Same image, command, environment, resources, securityContext and mounts."""
    (helm,) = HELM["repoServer"]["extraContainers"]
    (patched,) = PATCH["spec"]["template"]["spec"]["containers"]
    assert helm == patched


def test_helm_volumes_are_the_kustomize_volumes_but_the_plugin_source() -> None:
    """The chart's ConfigMap holds the plugin as <name>.yaml; the volume projects it as plugin.yaml."""
    helm = {v["name"]: v for v in HELM["repoServer"]["volumes"]}
    patched = {v["name"]: v for v in PATCH["spec"]["template"]["spec"]["volumes"]}
    name = PLUGIN["metadata"]["name"]
    assert helm.pop("pgrender-cmp-plugin")["configMap"] == {
        "name": "argocd-cmp-cm",
        "items": [{"key": f"{name}.yaml", "path": "plugin.yaml"}],
    }
    assert patched.pop("pgrender-cmp-plugin")["configMap"] == {"name": "pgrender-cmp-plugin"}
    assert helm == patched


def test_helm_plugin_is_plugin_yaml() -> None:
    """argo-helm writes configs.cmp.plugins.<name> as a ConfigManagementPlugin named <name> with that spec."""
    assert HELM["configs"]["cmp"]["create"] is True
    ((name, spec),) = HELM["configs"]["cmp"]["plugins"].items()
    assert {
        "apiVersion": PLUGIN["apiVersion"],
        "kind": PLUGIN["kind"],
        "metadata": {"name": name},
        "spec": spec,
    } == PLUGIN


def test_helm_pod_security_context_is_the_patch_one() -> None:
    assert HELM["global"]["securityContext"] == PATCH["spec"]["template"]["spec"]["securityContext"]


# Shell completion ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["pgrender", "ren"], ["render"]),
        (["pgrender", "cmp", "g"], ["generate"]),
        (["pgrender", "render", "--secrets-p"], ["--secrets-provider"]),
        (["pgrender", "render", "--secrets-provider", "e"], ["existing", "external"]),
        (["pgrender", "convert", "--from", ""], ["pgo", "zalando", "cnpg"]),
    ],
)
def test_bash_completion(tmp_path: Path, words: list[str], expected: list[str]) -> None:
    """The README's line, run by bash as a shell would at <TAB>, with pgrender on PATH."""
    script = (
        'eval "$(_PGRENDER_COMPLETE=bash_source pgrender)"\n'
        f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
        '_pgrender_completion pgrender; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    assert 'eval "$(_PGRENDER_COMPLETE=bash_source pgrender)"' in readme_section("### Shell completion")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == sorted(expected)


# The README's environment table ----------------------------------------------------------------------------


def test_the_environment_table_lists_every_variable_the_help_texts_name() -> None:
    helps = "\n".join((RENDER_READS, VALIDATE_READS, DIFF_READS, LINT_READS, CMP_GENERATE_READS))
    named = set(re.findall(r"\b(?:(?:PGRENDER|ARGOCD|PARAM)_[A-Z_]+[A-Z]|XDG_CACHE_HOME)\b", helps))
    table = set(re.findall(r"`(_?[A-Z][A-Z_]+[A-Z])(?:=1)?`", readme_section("### Environment")))
    assert named and named <= table
    assert table - named == {"_PGRENDER_COMPLETE"}


# The README's Renovate recipe ------------------------------------------------------------------------------


def renovate_manager() -> dict[str, Any]:
    section = readme_section("### Renovate: image tags in specs")
    (manager,) = json.loads(section.split("```json\n", 1)[1].split("```", 1)[0])["customManagers"]
    return dict(manager)


def javascript_regex(text: str) -> re.Pattern[str]:
    """Renovate's patterns are JavaScript (RE2) regular expressions: /…/ for a file pattern, (?<name>…) groups."""
    return re.compile(text.removeprefix("/").removesuffix("/").replace("(?<", "(?P<"))


def image_fields(node: Any) -> set[str]:
    """The value of every `image` key of a parsed spec."""
    if isinstance(node, dict):
        found = {node["image"]} if isinstance(node.get("image"), str) else set()
        return found.union(*(image_fields(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(image_fields(v) for v in node))
    return set()


SPECS = sorted([*EXAMPLES.glob("*.yaml"), *ROOT.glob("integrations/**/*.pgcluster.yaml")])


def test_renovate_reads_spec_files_only() -> None:
    manager = renovate_manager()
    assert (manager["customType"], manager["datasourceTemplate"]) == ("regex", "docker")
    (pattern,) = [javascript_regex(p) for p in manager["managerFilePatterns"]]
    specs = ["orders.pgcluster.yaml", "clusters/prod/orders.pgcluster.yaml"]
    specs += [p.relative_to(ROOT).as_posix() for p in ROOT.glob("integrations/**/*.pgcluster.yaml")]
    rendered = [p.relative_to(ROOT).as_posix() for p in GOLDEN.glob("*/expected/**/*.yaml")]
    assert rendered and all(pattern.search(p) for p in specs)
    assert [p for p in rendered if pattern.search(p)] == []


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_renovate_finds_every_image_of_a_spec(path: Path) -> None:
    (pattern,) = [javascript_regex(p) for p in renovate_manager()["matchStrings"]]
    text = path.read_text()
    found = {f"{m['depName']}:{m['currentValue']}" for m in pattern.finditer(text)}
    assert found == image_fields(yaml.safe_load(text))


def test_an_example_pins_images_for_renovate() -> None:
    images = image_fields(yaml.safe_load((EXAMPLES / "pooled.yaml").read_text()))
    assert images == {"ghcr.io/zalando/spilo-16:3.3-p3", "ghcr.io/cloudnative-pg/pgbouncer:1.24.1"}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("  image: ghcr.io/zalando/spilo-17:4.0-p2\n", ("ghcr.io/zalando/spilo-17", "4.0-p2", None)),
        ("  image: 'registry.local:5000/pg/spilo:17'\n", ("registry.local:5000/pg/spilo", "17", None)),
        (f'  image: "a/b:1.2@sha256:{"0" * 64}"\n', ("a/b", "1.2", f"sha256:{'0' * 64}")),
        ("  pgBouncer: {image: a/pgbouncer:1.24.1, replicas: 2}\n", ("a/pgbouncer", "1.24.1", None)),
        ("  image: a/b\n", None),  # no tag: nothing to update
        ("  imageContract: {binDir: /usr/bin}\n", None),
        ("  baseimage: a/b:1\n", None),
    ],
)
def test_renovate_pattern(line: str, expected: tuple[str, str, str | None] | None) -> None:
    (pattern,) = [javascript_regex(p) for p in renovate_manager()["matchStrings"]]
    match = pattern.search(line)
    assert (match and (match["depName"], match["currentValue"], match["currentDigest"])) == expected
