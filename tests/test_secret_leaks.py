"""No Secret value reaches standard output or standard error: check summarises a stale Secret by its
keys (text, json and github formats), lint describes a bad Secret value without quoting it, in schema
errors and in YAML errors alike. The values looked for are every Secret value of a rendered tree,
decoded and as base64, the lines of its private keys, the root key and values a test writes itself."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pgrender.check import NOT_A_FILE
from pgrender.cli import cli
from tests.conftest import EXAMPLES, GOLDEN_KEY, run_cli
from tests.secret_scan import leaked, secret_strings

FORMATS = ("text", "json", "github")
USER_SECRET = "secret-pooled-pguser-shop.yaml"
TAMPERED_PASSWORD = "tampered-Pa55word-from-a-test"
OBSOLETE_PASSWORD = "obsolete-Pa55word-from-a-test"
OBSOLETE_SECRET = f"""\
apiVersion: v1
kind: Secret
metadata: {{name: pooled-old, namespace: apps}}
stringData: {{password: {OBSOLETE_PASSWORD}}}
"""


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def rendered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """examples/pooled.yaml (users, pgBouncer, TLS) rendered into ./out with the test key."""
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(EXAMPLES / "pooled.yaml", tmp_path / "pooled.yaml")
    result = run_cli("render", "pooled.yaml", "-o", "out", "--key-file", str(GOLDEN_KEY))
    assert result.exit_code == 0, result.stderr
    return tmp_path / "out"


@pytest.fixture
def secrets(rendered: Path) -> set[str]:
    found = secret_strings(rendered, GOLDEN_KEY.read_text().strip(), TAMPERED_PASSWORD, OBSOLETE_PASSWORD)
    assert len(found) > 50, "the scan finds the passwords, URIs, verifiers and private keys"
    return found


def replace_line(path: Path, prefix: str, line: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    (index,) = [i for i, old in enumerate(lines) if old.startswith(prefix)]
    lines[index] = line
    path.write_text("".join(lines))


def tamper(out: Path) -> None:
    """A changed password and URI, a deleted Secret, a Secret that is no longer valid YAML, an
    obsolete Secret, and a changed Service whose diff must still be shown."""
    replace_line(out / USER_SECRET, "  password: ", f"  password: {b64(TAMPERED_PASSWORD)}\n")
    replace_line(out / USER_SECRET, "  uri: ", f"  uri: {b64('postgresql://shop:' + TAMPERED_PASSWORD + '@x/shop')}\n")
    (out / "secret-pooled-pgbouncer.yaml").unlink()
    patroni = out / "secret-pooled-patroni.yaml"
    patroni.write_text(patroni.read_text() + f"  password: {b64(TAMPERED_PASSWORD)}\n")  # a duplicate key
    (out / "secret-pooled-old.yaml").write_text(OBSOLETE_SECRET)
    kustomization = out / "kustomization.yaml"
    kustomization.write_text(
        kustomization.read_text().replace("resources:\n", "resources:\n- secret-pooled-old.yaml\n")
    )
    service = out / "service-pooled-pods.yaml"
    service.write_text(service.read_text().replace("clusterIP: None", "clusterIP: 10.0.0.1"))


def check(fmt: str) -> Result:
    return run_cli("check", "pooled.yaml", "-o", "out", "--key-file", str(GOLDEN_KEY), "--format", fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_check_never_prints_secret_values(rendered: Path, secrets: set[str], fmt: str) -> None:
    tamper(rendered)
    result = check(fmt)
    assert result.exit_code == 1
    assert leaked(result.stdout + result.stderr, secrets) == []


def test_check_names_the_keys_of_each_stale_secret(rendered: Path) -> None:
    tamper(rendered)
    diff = check("text").stdout
    assert (
        "out/secret-pooled-pguser-shop.yaml: Secret apps/pooled-pguser-shop: keys changed: password, uri "
        "(values are not shown)\n"
    ) in diff
    assert (
        "out/secret-pooled-pgbouncer.yaml: Secret apps/pooled-pgbouncer: added, keys: ca.crt, password, tls.crt, "
        "tls.key, users.txt, verifier (values are not shown)\n"
    ) in diff
    assert "out/secret-pooled-patroni.yaml: not valid YAML and holds a Secret, so no diff is shown" in diff
    assert (
        "out/secret-pooled-old.yaml: Secret apps/pooled-old: no longer rendered, keys: password (values are not shown)"
    ) in diff
    assert "-  clusterIP: 10.0.0.1\n+  clusterIP: None\n" in diff, "other objects are still diffed"


def tamper_around(out: Path) -> None:
    """Output files that are not what they seem: a link to the root key, a directory's link, a
    FIFO (open() would wait on it forever), and a Secret inside a List (as kustomize reads one)."""
    (out / "configmap-pooled-config.yaml").unlink()
    (out / "configmap-pooled-config.yaml").symlink_to(GOLDEN_KEY.resolve())
    (out / "service-pooled-pods.yaml").unlink()
    os.mkfifo(out / "service-pooled-pods.yaml")
    listed = OBSOLETE_SECRET.replace("\n", "\n  ").replace("apiVersion: v1\n  ", "- apiVersion: v1\n  ")
    (out / "service-pooled-primary.yaml").write_text(f"apiVersion: v1\nkind: List\nitems:\n{listed}")


@pytest.mark.parametrize("fmt", FORMATS)
def test_check_reads_nothing_through_a_link_and_no_secret_in_a_list(
    rendered: Path, secrets: set[str], fmt: str
) -> None:
    tamper_around(rendered)
    result = check(fmt)
    assert result.exit_code == 1
    assert leaked(result.stdout + result.stderr, secrets) == []
    for name in ("configmap-pooled-config.yaml", "service-pooled-pods.yaml", "service-pooled-primary.yaml"):
        assert name in result.stdout


@pytest.mark.parametrize("fmt", FORMATS)
def test_check_reads_nothing_a_kustomization_names_outside_the_output(
    rendered: Path, secrets: set[str], fmt: str
) -> None:
    """A committed kustomization listing ../root.key or /proc/self/environ made check print the file
    as "no longer rendered"; and a link one directory deeper than a cluster's was read through."""
    key = GOLDEN_KEY.resolve()
    (rendered / "deep" / "a").mkdir(parents=True)
    (rendered / "deep" / "a" / "s").symlink_to(key.parent)
    (rendered / "deep" / "kustomization.yaml").write_text(f"resources:\n- a/s/{key.name}\n")
    listing = rendered / "kustomization.yaml"
    listing.write_text(listing.read_text() + f"- ../../{key.name}\n- {key}\n- /proc/self/environ\n- deep\n")
    result = check(fmt)
    assert result.exit_code == 1
    assert leaked(result.stdout + result.stderr, secrets) == []
    assert "PGRENDER_ALLOW_TEST_KEY=1" not in result.stdout  # /proc/self/environ's text (the test sets it)


def test_check_reads_no_kustomization_through_a_linked_directory(rendered: Path, tmp_path: Path) -> None:
    """A listed directory that is a link to a kustomize base outside: neither its names nor its text."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "kustomization.yaml").write_text("resources:\n- hidden-name.yaml\n")
    (outside / "hidden-name.yaml").write_text("OUTSIDE-TEXT\n")
    (rendered / "lnk").symlink_to(outside)
    listing = rendered / "kustomization.yaml"
    listing.write_text(listing.read_text() + "- lnk\n")
    result = check("text")
    assert result.exit_code == 1
    assert "hidden-name" not in result.stdout + result.stderr and "OUTSIDE-TEXT" not in result.stdout


def test_check_says_what_it_did_not_read(rendered: Path) -> None:
    tamper_around(rendered)
    diff = check("text").stdout
    assert "--- a/out/configmap-pooled-config.yaml\n+++ b/out/configmap-pooled-config.yaml\n" in diff
    assert f"-{NOT_A_FILE}" in diff and diff.count(NOT_A_FILE) == 1  # the FIFO is not a file at all: missing
    assert "out: stale: 2 changed, 1 missing" in check("text").stderr
    assert "out/service-pooled-primary.yaml: holds a Secret inside another object, so no diff is shown" in diff


def test_a_secret_changed_outside_its_data_names_the_fields(rendered: Path) -> None:
    path = rendered / USER_SECRET
    path.write_text(path.read_text().replace("type: Opaque", "type: kubernetes.io/basic-auth"))
    assert "Secret apps/pooled-pguser-shop: other fields changed: type (values are not shown)" in check("text").stdout


def test_the_diff_around_secret_summaries_still_applies(rendered: Path) -> None:
    """git apply skips the summary lines; what it cannot fix (the Secrets) stays stale."""
    tamper(rendered)
    patch = rendered.parent / "fix.patch"
    patch.write_text(check("text").stdout)
    subprocess.run(["git", "apply", str(patch)], cwd=rendered.parent, check=True, capture_output=True)
    result = check("json")
    assert '"clusterIP: None"' not in result.stdout
    assert "service-pooled-pods.yaml" not in result.stdout
    assert "secret-pooled-pguser-shop.yaml" in result.stdout


# lint ----------------------------------------------------------------------------------------------------------

HEADER = "apiVersion: v1\nkind: Secret\nmetadata: {name: crafted, namespace: apps}\n"


def crafted(password: str) -> dict[str, str]:
    """Secret files that make lint report each kind of problem, around a real password."""
    encoded = b64(password)
    return {
        "duplicate-data-key": f"{HEADER}data:\n  password: {encoded}\n  password: {b64(TAMPERED_PASSWORD)}\n",
        "duplicate-string-data-key": f"{HEADER}stringData:\n  password: {password}\n  password: {TAMPERED_PASSWORD}\n",
        "data-value-a-mapping": f"{HEADER}data:\n  password: {{nested: {encoded}}}\n",
        "data-value-a-list": f"{HEADER}data:\n  password: [{encoded}]\n",
        "string-data-value-a-mapping": f"{HEADER}stringData:\n  password: {{nested: {password}}}\n",
        "data-a-string": f"{HEADER}data: {encoded}\n",
        "data-a-list": f"{HEADER}data: [{encoded}]\n",
        "string-data-a-list": f"{HEADER}stringData: [{password}]\n",
        "bad-timestamp": f"{HEADER}stringData:\n  password: !!timestamp {password}\n",
        "bad-int": f"{HEADER}stringData:\n  password: !!int {password}\n",
        "bad-escape": f'{HEADER}stringData:\n  password: "\\U{password[:8]}{password}"\n',
        "unknown-tag": f"{HEADER}stringData:\n  password: !{password} x\n",
        "control-character": f'{HEADER}stringData:\n  password: "{password}\x01{password}"\n',
    }


CASES = list(crafted("x"))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", CASES)
def test_lint_never_prints_secret_values(
    rendered: Path, secrets: set[str], tmp_path: Path, case: str, fmt: str
) -> None:
    password = base64.b64decode(
        next(line for line in (rendered / USER_SECRET).read_text().splitlines() if line.startswith("  password: "))
        .split(": ", 1)[1]
        .encode()
    ).decode()
    assert password in secrets
    path = tmp_path / "lint" / f"{case}.yaml"
    path.parent.mkdir()
    path.write_text(crafted(password)[case])
    result = run_cli("lint", str(path), "--format", fmt)
    assert result.exit_code in (1, 2), result.stderr
    assert "Traceback" not in result.stderr
    assert leaked(result.stdout + result.stderr, secrets) == []


def test_lint_of_standard_input_never_prints_secret_values(rendered: Path, secrets: set[str]) -> None:
    stream = (rendered / USER_SECRET).read_text()
    password_line = next(line for line in stream.splitlines() if line.startswith("  password: "))
    duplicated = stream.replace(password_line, f"{password_line}\n{password_line}")
    result = CliRunner().invoke(cli, ["lint", "-"], input=duplicated.encode())
    assert result.exit_code == 2
    assert "duplicate key" in result.stderr
    assert leaked(result.stdout + result.stderr, secrets) == []


def test_lint_still_says_what_is_wrong(tmp_path: Path) -> None:
    files = crafted("hunter2-hunter2")
    messages = {}
    for case in ("duplicate-data-key", "data-value-a-mapping", "data-a-list", "bad-int"):
        path = tmp_path / f"{case}.yaml"
        path.write_text(files[case])
        messages[case] = run_cli("lint", str(path)).stderr.splitlines()[0].split(": ", 1)[1]
    assert messages == {
        "duplicate-data-key": "data.password: duplicate key: each key may appear once per mapping",
        "data-value-a-mapping": "Secret/crafted.data.password: expected string or null, found a mapping "
        "(Secret data is not shown)",
        "data-a-list": "Secret/crafted.data: expected object or null, found a list (Secret data is not shown)",
        "bad-int": "stringData.password: the value does not fit its tag !!int: expected a whole number",
    }


def test_lint_duplicate_key_is_positioned(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(crafted("hunter2-hunter2")["duplicate-data-key"])
    assert run_cli("lint", str(path)).stderr.startswith(f"{path}:6:3: data.password: duplicate key")


def test_lint_shows_values_of_objects_that_are_not_secrets(tmp_path: Path) -> None:
    path = tmp_path / "cm.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {mode: {fast: yes}}\n")
    assert "{'fast': 'yes'} is not of type 'string'" in run_cli("lint", str(path)).stderr
