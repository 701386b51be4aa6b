"""pre-commit: .pre-commit-hooks.yaml is a valid manifest, and its hooks behave as promised when the real
`pre-commit run` runs them in a throwaway git repository (pgrender.yaml with provider existing and a spec):
check fails on stale output and passes after a render; render fails because it modified files, then passes;
validate fails on a bad spec with file:line:col.

The configuration names the hook repository at its commit, as a user's .pre-commit-config.yaml does, and
all the tests share one pre-commit store (PRE_COMMIT_HOME): the hook virtualenv is built once, as on a
user's machine, instead of once per run as `pre-commit try-repo` (a fresh store each time) did.

Offline by construction: pre-commit builds the hook virtualenv and runs `pip install .` in it. pip gets no index
(PIP_NO_INDEX, no config files) and finds links only in virtualenv's bundled wheels (setuptools for the isolated
build); pgrender's dependencies resolve as already installed because PYTHONPATH holds this interpreter's
site-packages (VIRTUALENV_SYSTEM_SITE_PACKAGES would not do: it exposes the base interpreter's packages, not this
virtualenv's). Proxies point at a closed local port, so any download attempt would fail the test, not pass it.

pre-commit clones the hook repository at the configured commit, so the hook repository is a committed copy of
exactly what `pip install .` needs and the manifest; that works in a fresh clone and in a work tree with
uncommitted or untracked files alike."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pre_commit.clientlib import load_manifest

from tests.conftest import EXAMPLES, ROOT

MANIFEST = ROOT / ".pre-commit-hooks.yaml"
HOOKS: dict[str, dict[str, Any]] = {h["id"]: h for h in yaml.safe_load(MANIFEST.read_text())}
PACKAGE_FILES = ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml")
CONFIG = "apiVersion: pgrender.io/v1alpha1\nkind: RenderConfig\nsecrets: {provider: existing}\n"
SPEC = "minimal.pgcluster.yaml"
PROXIES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, env=git_env(), check=True, capture_output=True)


def git_env() -> dict[str, str]:
    """No user or system git configuration, no inherited GIT_* (e.g. when pytest runs inside a git hook)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return {
        **env,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "pgrender tests",
        "GIT_AUTHOR_EMAIL": "tests@pgrender.invalid",
        "GIT_COMMITTER_NAME": "pgrender tests",
        "GIT_COMMITTER_EMAIL": "tests@pgrender.invalid",
    }


def bundled_wheels() -> Path:
    """virtualenv's own wheels (pip, setuptools): the only links pip may use; setuptools is the build backend."""
    import virtualenv

    folder = Path(virtualenv.__file__).parent / "seed" / "wheels" / "embed"
    assert list(folder.glob("setuptools-*.whl")), f"no setuptools wheel bundled with virtualenv in {folder}"
    return folder


def offline_env(work: Path, home: Path) -> dict[str, str]:
    """No index, no proxy, this interpreter's packages on PYTHONPATH; ``home`` is pre-commit's store."""
    prefixes = ("PIP_", "VIRTUALENV_", "PRE_COMMIT", "PYTHON")
    env = {k: v for k, v in git_env().items() if not k.startswith(prefixes) and k.lower() not in PROXIES}
    paths = sysconfig.get_paths()
    for name in ("tmp", "virtualenv-data"):
        (work / name).mkdir(exist_ok=True)
    return {
        **env,
        "PYTHONPATH": os.pathsep.join(dict.fromkeys((paths["purelib"], paths["platlib"]))),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(bundled_wheels()),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "VIRTUALENV_NO_PERIODIC_UPDATE": "1",
        "VIRTUALENV_OVERRIDE_APP_DATA": str(work / "virtualenv-data"),
        "PRE_COMMIT_HOME": str(home),
        "TMPDIR": str(work / "tmp"),
        **dict.fromkeys(("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"), "http://127.0.0.1:9"),
    }


@dataclass(frozen=True)
class Hooks:
    """The hook repository (a committed copy of the files `pip install .` needs, and the manifest), a
    configuration naming it at its commit with every hook, and the pre-commit store the tests share."""

    repo: Path
    config: Path
    home: Path


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> Hooks:
    repo = tmp_path_factory.mktemp("hook-repo")
    for name in PACKAGE_FILES:
        shutil.copy2(ROOT / name, repo / name)
    shutil.copytree(ROOT / "pgrender", repo / "pgrender", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "pgrender hooks under test")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, env=git_env(), check=True, capture_output=True)
    entries = [{"id": hook_id} for hook_id in HOOKS]
    config = tmp_path_factory.mktemp("hook-config") / ".pre-commit-config.yaml"
    config.write_text(
        yaml.safe_dump({"repos": [{"repo": str(repo), "rev": head.stdout.decode().strip(), "hooks": entries}]})
    )
    return Hooks(repo, config, tmp_path_factory.mktemp("pre-commit-home"))


@pytest.fixture
def user_repo(tmp_path: Path) -> Path:
    """A repository using the hooks: pgrender.yaml (provider existing) and one spec, staged."""
    repo = tmp_path / "databases"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "pgrender.yaml").write_text(CONFIG)
    shutil.copyfile(EXAMPLES / "minimal.yaml", repo / SPEC)
    git(repo, "add", "-A")
    return repo


def run_hook(
    hooks: Hooks, repo: Path, hook_id: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`pre-commit run <hook_id> --all-files` in ``repo``, with the hook repository's configuration."""
    command = ["run", "--config", str(hooks.config), hook_id, "--all-files", "--color", "never"]
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", *command],
        cwd=repo,
        env=env or offline_env(repo.parent, hooks.home),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def render_write(repo: Path) -> None:
    subprocess.run([sys.executable, "-m", "pgrender", "render", "--write"], cwd=repo, check=True, capture_output=True)


def verdict(result: subprocess.CompletedProcess[str], hook_id: str) -> str:
    """Passed, Failed or Skipped, from pre-commit's status line for the hook."""
    match = re.search(
        rf"^{re.escape(HOOKS[hook_id]['name'])}\.*(Passed|Failed|\(no files to check\)Skipped)$",
        result.stdout,
        re.MULTILINE,
    )
    assert match, result.stdout + result.stderr
    return match.group(1)


# The manifest -----------------------------------------------------------------------------------------------


def test_manifest_is_valid_for_pre_commit() -> None:
    assert [h["id"] for h in load_manifest(str(MANIFEST))] == ["pgrender-render", "pgrender-check", "pgrender-validate"]


@pytest.mark.parametrize(
    ("hook_id", "entry"),
    [
        ("pgrender-render", "pgrender render --write --exit-code"),
        ("pgrender-check", "pgrender check"),
        ("pgrender-validate", "pgrender validate"),
    ],
)
def test_entries(hook_id: str, entry: str) -> None:
    assert HOOKS[hook_id]["entry"] == entry


@pytest.mark.parametrize("hook_id", sorted(HOOKS))
@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("language", "python"),
        ("pass_filenames", False),
        ("require_serial", True),
        ("minimum_pre_commit_version", "3.2.0"),
    ],
)
def test_whole_repository_hooks(hook_id: str, key: str, value: Any) -> None:
    assert HOOKS[hook_id][key] == value


@pytest.mark.parametrize(
    ("path", "render_and_check", "validate"),
    [
        ("pgrender.yaml", True, True),
        ("deploy/postgres/pgrender.yaml", True, True),
        ("hippo.pgcluster.yaml", True, True),
        ("clusters/hippo.pgcluster.yaml", True, True),
        ("rendered/kustomization.yaml", True, False),
        ("rendered/statefulset-hippo-instance1-0.yaml", True, False),
        ("deploy/postgres/rendered/kustomization.yaml", True, False),
        ("README.md", False, False),
        ("hippo.yaml", False, False),
        ("not-pgrender.yaml", False, False),
        ("pgrender.yaml.orig", False, False),
        ("unrendered/x.yaml", False, False),
    ],
)
def test_files_patterns(path: str, render_and_check: bool, validate: bool) -> None:
    """pre-commit matches `files` with re.search against repository-relative paths."""
    assert bool(re.search(HOOKS["pgrender-render"]["files"], path)) is render_and_check
    assert bool(re.search(HOOKS["pgrender-check"]["files"], path)) is render_and_check
    assert bool(re.search(HOOKS["pgrender-validate"]["files"], path)) is validate


def test_readme_configures_only_hooks_that_exist() -> None:
    section = (ROOT / "README.md").read_text().split("\n### Door 1: pre-commit\n", 1)[1]
    config = yaml.safe_load(section.split("```yaml\n", 1)[1].split("```", 1)[0])
    ids = [hook["id"] for repo in config["repos"] for hook in repo["hooks"]]
    assert ids == ["pgrender-render"]  # it validates: no validate hook beside it
    assert set(ids) <= set(HOOKS)


# The hooks, run by pre-commit --------------------------------------------------------------------------------


def test_the_hook_environment_never_downloads(hooks: Hooks, user_repo: Path) -> None:
    """Control: without this interpreter's packages on PYTHONPATH the same install (in a store of its own)
    fails for want of a dependency, so the passing runs below install from what is here and from nowhere else."""
    env = offline_env(user_repo.parent, user_repo.parent / "pre-commit")
    del env["PYTHONPATH"]
    result = run_hook(hooks, user_repo, "pgrender-validate", env)
    assert result.returncode != 0
    assert "No matching distribution found for" in result.stdout + result.stderr


def test_check_hook_fails_on_stale_output_then_passes_after_render(hooks: Hooks, user_repo: Path) -> None:
    stale = run_hook(hooks, user_repo, "pgrender-check")
    assert verdict(stale, "pgrender-check") == "Failed"
    assert "- exit code: 1" in stale.stdout
    assert "+++ b/rendered/statefulset-minimal-instance1-0.yaml" in stale.stdout
    assert not (user_repo / "rendered").exists()
    render_write(user_repo)
    current = run_hook(hooks, user_repo, "pgrender-check")
    assert verdict(current, "pgrender-check") == "Passed"


def test_render_hook_fails_because_files_changed_then_passes(hooks: Hooks, user_repo: Path) -> None:
    render_write(user_repo)
    git(user_repo, "add", "-A")
    spec = user_repo / SPEC
    spec.write_text(spec.read_text().replace("size: 1Gi", "size: 2Gi"))
    git(user_repo, "add", SPEC)
    first = run_hook(hooks, user_repo, "pgrender-render")
    assert verdict(first, "pgrender-render") == "Failed"
    assert "- files were modified by this hook" in first.stdout
    assert (
        "storage: 2Gi" in (user_repo / "rendered" / "persistentvolumeclaim-minimal-instance1-0-pgdata.yaml").read_text()
    )
    git(user_repo, "add", "-A")
    second = run_hook(hooks, user_repo, "pgrender-render")
    assert verdict(second, "pgrender-render") == "Passed"


def test_render_hook_fails_when_it_creates_files(hooks: Hooks, user_repo: Path) -> None:
    result = run_hook(hooks, user_repo, "pgrender-render")
    assert (user_repo / "rendered" / "kustomization.yaml").is_file()
    assert verdict(result, "pgrender-render") == "Failed"
    # The failure says what to do: new files are untracked until added.
    assert "`git add rendered` (new files too), and commit again" in result.stdout


def test_validate_hook_reports_the_spec_problem_then_passes(hooks: Hooks, user_repo: Path) -> None:
    spec = user_repo / SPEC
    good = spec.read_text()
    spec.write_text(good.replace("size: 1Gi", "size: 1 Gi"))
    bad = run_hook(hooks, user_repo, "pgrender-validate")
    assert verdict(bad, "pgrender-validate") == "Failed"
    assert "- exit code: 2" in bad.stdout
    assert f"{SPEC}:13:9: spec.instances[0].dataVolume.size: '1 Gi' is not a Kubernetes quantity" in bad.stdout
    spec.write_text(good)
    assert verdict(run_hook(hooks, user_repo, "pgrender-validate"), "pgrender-validate") == "Passed"


@pytest.mark.parametrize("hook_id", ["pgrender-render", "pgrender-check"])
def test_render_and_check_hooks_validate_the_specs(hooks: Hooks, user_repo: Path, hook_id: str) -> None:
    """The one hook the README recommends reports a spec problem as the validate hook does, and writes nothing."""
    spec = user_repo / SPEC
    spec.write_text(spec.read_text().replace("size: 1Gi", "size: 1 Gi"))
    bad = run_hook(hooks, user_repo, hook_id)
    assert verdict(bad, hook_id) == "Failed"
    assert "- exit code: 2" in bad.stdout
    assert f"{SPEC}:13:9: spec.instances[0].dataVolume.size: '1 Gi' is not a Kubernetes quantity" in bad.stdout
    assert not (user_repo / "rendered").exists()


def test_external_output_is_written_checked_and_committed_through_the_hooks(hooks: Hooks, user_repo: Path) -> None:
    """With `secrets: {provider: external}` the render hook writes ExternalSecrets into the work tree (no
    root key, no refusal), the check hook then passes, and the output commits."""
    (user_repo / "pgrender.yaml").write_text(CONFIG.replace("{provider: existing}", "{provider: external}"))
    git(user_repo, "add", "-A")
    first = run_hook(hooks, user_repo, "pgrender-render")
    assert verdict(first, "pgrender-render") == "Failed"  # it created files
    rendered = sorted(p.name for p in (user_repo / "rendered").iterdir())
    assert "externalsecret-minimal-pguser-minimal.yaml" in rendered
    assert not [name for name in rendered if name.startswith("secret-")]
    git(user_repo, "add", "-A")
    assert verdict(run_hook(hooks, user_repo, "pgrender-render"), "pgrender-render") == "Passed"
    assert verdict(run_hook(hooks, user_repo, "pgrender-check"), "pgrender-check") == "Passed"
    git(user_repo, "commit", "-q", "-m", "rendered with ExternalSecrets")


def test_render_hook_commits_sealed_secrets_and_keeps_their_ciphertexts(hooks: Hooks, tmp_path: Path) -> None:
    """Provider sealed: the render hook writes SealedSecrets into the work tree (no plaintext, not git-ignored);
    once committed, the next run changes nothing (the ciphertexts are kept), and check passes."""
    repo = tmp_path / "sealed"
    repo.mkdir()
    git(repo, "init", "-q")
    shutil.copyfile(ROOT / "tests" / "fixtures" / "sealed_secrets" / "controller.crt", repo / "sealed-secrets.pem")
    shutil.copyfile(EXAMPLES / "minimal.yaml", repo / SPEC)
    (repo / "pgrender.yaml").write_text(
        "apiVersion: pgrender.io/v1alpha1\nkind: RenderConfig\n"
        f"secrets: {{provider: sealed, keyFile: {ROOT / 'tests' / 'golden.key'}, "
        "sealed: {certificate: sealed-secrets.pem}}\n"
    )
    git(repo, "add", "-A")
    first = run_hook(hooks, repo, "pgrender-render")
    assert verdict(first, "pgrender-render") == "Failed", first.stdout + first.stderr
    rendered = {p.name for p in (repo / "rendered").iterdir()}
    assert "sealedsecret-minimal-patroni.yaml" in rendered and not [n for n in rendered if n.startswith("secret-")]
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "rendered")
    second = run_hook(hooks, repo, "pgrender-render")
    assert verdict(second, "pgrender-render") == "Passed", second.stdout + second.stderr
    assert verdict(run_hook(hooks, repo, "pgrender-check"), "pgrender-check") == "Passed"
