"""lint: strict kubernetes-validate of rendered YAML; exit 1 with file, Kind/name, path and message per problem,
0 for the golden bases; text, json and github formats; the Kubernetes version from the flag or pgrender.yaml;
kubeconform (an optional binary) called with the flags its contract needs; exit 2 for bad input."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest

from pgrender import __version__, crds
from tests.conftest import EXAMPLES, ROOT, run_cli

GOLDEN_BASES = sorted(p for p in (ROOT / "golden").glob("*/expected") if p.is_dir())
VERSIONS = ("1.28", kubernetes_validate.latest_version().rsplit(".", 1)[0])

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
"""
CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: shop}\ndata: {mode: fast}\n"
# cert-manager's kinds: validated against the CRD schemas pgrender bundles (pgrender/crds).
CERTIFICATE = """\
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: shop}
spec:
  secretName: web-tls
  dnsNames: [web.shop.svc]
  usages: [digital signature, server auth]
  privateKey: {algorithm: ECDSA, size: 256}
  issuerRef: {name: corp, kind: ClusterIssuer}
"""
ISSUER = """\
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: ca, namespace: shop}
spec: {ca: {secretName: ca}}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("base", GOLDEN_BASES, ids=lambda p: p.parent.name)
def test_golden_bases_pass(base: Path, version: str) -> None:
    result = run_cli("lint", str(base), "--kubernetes-version", version)
    assert result.exit_code == 0, result.stderr
    files = len(list(base.glob("*.yaml")))
    assert result.stderr == f"{files - 1} objects in {files} files, 0 problems (Kubernetes {version}, strict)\n"


INVALID = [
    (
        "unknown-field",
        DEPLOYMENT.replace("  replicas: 1\n", "  replicas: 1\n  colour: red\n"),
        "6:3: Deployment/web.spec: Additional properties are not allowed ('colour' was unexpected)",
    ),
    (
        "unknown-container-field",
        DEPLOYMENT.replace("image: nginx}", "image: nginx, imagePolicy: Always}"),
        "10:46: Deployment/web.spec.template.spec.containers.0: Additional properties are not allowed "
        "('imagePolicy' was unexpected)",
    ),
    (
        "wrong-type",
        DEPLOYMENT.replace("replicas: 1", "replicas: one"),
        "5:3: Deployment/web.spec.replicas: 'one' is not of type 'integer', 'null'",
    ),
    (
        "missing-required",
        DEPLOYMENT.replace("  selector: {matchLabels: {app: web}}\n", ""),
        "4:1: Deployment/web.spec: ",
    ),
    ("not-a-string", CONFIG_MAP.replace("fast", "1"), "4:8: ConfigMap/settings.data.mode: 1 is not of type 'string'"),
    (
        "sealed-secret-unknown-field",
        "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: s, namespace: n}\n"
        "spec: {encryptedData: {}, extra: 1}\n",
        "4:27: SealedSecret/s.spec: Additional properties are not allowed ('extra' was unexpected)",
    ),
    (
        "custom-resource",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
        "2:1: Widget/w: no schema for example.com/v1 Widget in Kubernetes 1.30",
    ),
    (
        "certificate-unknown-field",
        CERTIFICATE.replace("  dnsNames:", "  dnsName: [x]\n  dnsNames:"),
        "6:3: Certificate/web.spec: Additional properties are not allowed ('dnsName' was unexpected)",
    ),
    (
        "certificate-usage",
        CERTIFICATE.replace("server auth", "server-auth"),
        "7:31: Certificate/web.spec.usages.1: 'server-auth' is not one of ",
    ),
    (
        "certificate-issuer",
        CERTIFICATE.replace("  issuerRef: {name: corp, kind: ClusterIssuer}\n", ""),
        "4:1: Certificate/web.spec: 'issuerRef' is a required property",
    ),
    (
        "certificate-key",
        CERTIFICATE.replace("ECDSA", "DSA"),
        "8:16: Certificate/web.spec.privateKey.algorithm: 'DSA' is not one of",
    ),
    (
        "issuer-ca",
        ISSUER.replace("{secretName: ca}", "{}"),
        "4:8: Issuer/ca.spec.ca: 'secretName' is a required property",
    ),
    (
        "no-api-version",
        "kind: ConfigMap\nmetadata: {name: x}\n",
        "1:1: ConfigMap/x.apiVersion: required field is missing",
    ),
    ("no-kind", "a: 1\n", "1:1: ?/document 0.apiVersion: required field is missing"),
    (
        "kind-a-list",
        "apiVersion: v1\nkind: [Secret]\nmetadata: {name: x}\n",
        "2:1: ['Secret']/x.kind: expected a string; found a list",
    ),
    (
        "api-version-three-parts",
        "apiVersion: a/b/c\nkind: Secret\n",
        "1:1: Secret/document 0.apiVersion: expected group/",
    ),
    (
        "unknown-version",
        "apiVersion: v9\nkind: Secret\nmetadata: {name: x}\n",
        "2:1: Secret/x: no schema for v9 Secret",
    ),
    (
        "secret-data-not-base64",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  ok: aGk=\n  bad: hunter2!\n",
        "6:3: Secret/s.data.bad: not valid base64, which the API server refuses (Secret data is not shown)",
    ),
    (
        "secret-data-unpadded",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: aGk}\n",
        "4:8: Secret/s.data.k: not valid base64",
    ),
    (
        "issuer-spec",
        ISSUER.replace("spec: {ca: {secretName: ca}}", "spec: {ca: {secretName: ca}, kind: x}"),
        "4:30: Issuer/ca.spec: Additional properties are not allowed ('kind' was unexpected)",
    ),
]


@pytest.mark.parametrize(
    "text",
    [CERTIFICATE, ISSUER, ISSUER.replace("{ca: {secretName: ca}}", "{acme: {server: x, solvers: [{http01: {}}]}}")],
    ids=["certificate", "ca-issuer", "acme-issuer"],
)
def test_cert_manager_kinds_pass(tmp_path: Path, text: str) -> None:
    result = run_cli("lint", str(write(tmp_path / "object.yaml", text)))
    assert (result.exit_code, result.stderr.splitlines()[-1]) == (
        0,
        "1 objects in 1 files, 0 problems (Kubernetes 1.30, strict)",
    )


@pytest.mark.parametrize(("text", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_object_exits_1_naming_file_kind_and_name(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "manifests" / "object.yaml", text)
    result = run_cli("lint", str(tmp_path / "manifests"))
    assert result.exit_code == 1
    (problem, summary) = result.stderr.splitlines()
    assert problem.startswith(f"{path}:{message}")  # line:column: Kind/name.field: ...
    assert summary == "1 objects in 1 files, 1 problems (Kubernetes 1.30, strict)"


def test_the_bad_object_in_a_stream_is_the_one_reported(tmp_path: Path) -> None:
    bad = DEPLOYMENT.replace("name: web,", "name: api,").replace("replicas: 1", "replicas: -1.5")
    path = write(tmp_path / "all.yaml", "---\n".join([CONFIG_MAP, DEPLOYMENT, bad]))
    result = run_cli("lint", str(path))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith(f"{path}:21:3: Deployment/api.spec.replicas: ")
    assert result.stderr.splitlines()[1] == "3 objects in 1 files, 1 problems (Kubernetes 1.30, strict)"


def test_github_format(tmp_path: Path) -> None:
    path = write(tmp_path / "d.yaml", DEPLOYMENT.replace("  replicas: 1\n", "  replicas: 1\n  colour: red\n"))
    result = run_cli("lint", str(path), "--format", "github")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"::error file={path},line=6,col=3::Deployment/web.spec: "
        "Additional properties are not allowed ('colour' was unexpected)"
    )


def test_json_format(tmp_path: Path) -> None:
    path = write(tmp_path / "d.yaml", DEPLOYMENT.replace("  replicas: 1\n", "  replicas: 1\n  colour: red\n"))
    result = run_cli("lint", str(path), "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == [
        {
            "file": str(path),
            "line": 6,
            "column": 3,
            "path": "Deployment/web.spec",
            "message": "Additional properties are not allowed ('colour' was unexpected)",
        }
    ]


def test_json_format_when_clean(tmp_path: Path) -> None:
    result = run_cli("lint", str(write(tmp_path / "d.yaml", DEPLOYMENT)), "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


def test_kustomization_files_are_not_objects(tmp_path: Path) -> None:
    write(tmp_path / "kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n")
    write(tmp_path / "d.yaml", DEPLOYMENT)
    result = run_cli("lint", str(tmp_path))
    assert result.exit_code == 0
    assert result.stderr == "1 objects in 2 files, 0 problems (Kubernetes 1.30, strict)\n"


@pytest.mark.parametrize(
    ("given", "used"),
    [("1.28", "1.28"), ("1.28.3", "1.28"), ("v1.29", "1.29")],
)
def test_kubernetes_version_flag(tmp_path: Path, given: str, used: str) -> None:
    result = run_cli("lint", str(write(tmp_path / "d.yaml", DEPLOYMENT)), "--kubernetes-version", given)
    assert result.exit_code == 0
    assert result.stderr.endswith(f"(Kubernetes {used}, strict)\n")


def test_version_dependent_schema(tmp_path: Path) -> None:
    """A field the newer schema knows and the older one does not (Pod-level resources, Kubernetes 1.32)."""
    pod_resources = DEPLOYMENT.replace("    spec:\n", "    spec:\n      resources: {limits: {cpu: '1'}}\n")
    path = write(tmp_path / "d.yaml", pod_resources)
    assert run_cli("lint", str(path), "--kubernetes-version", "1.28").exit_code == 1
    assert run_cli("lint", str(path), "--kubernetes-version", VERSIONS[1]).exit_code == 0


def test_output_and_version_from_pgrender_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "pgrender.yaml", 'output: deploy\nkubernetesVersion: "1.29"\n')
    write(tmp_path / "deploy" / "d.yaml", DEPLOYMENT)
    monkeypatch.chdir(tmp_path)
    result = run_cli("lint")
    assert result.exit_code == 0
    assert result.stderr == "1 objects in 1 files, 0 problems (Kubernetes 1.29, strict)\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("does-not-exist",), "pgrender: does-not-exist: no such file or directory"),
        ((), "give PATHS, or run where a pgrender.yaml is"),
        ((str(EXAMPLES), "--kubernetes-version", "2.0"), "'2.0' is not a Kubernetes version"),
    ],
)
def test_bad_input_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli("lint", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def lint_process(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pgrender", "lint", *args], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("--kubernetes-version", "1.20"), "1.20", id="version-too-old"),
        pytest.param(("--kubernetes-version", "1.99"), "1.99", id="version-too-new"),
        pytest.param(("--kubernetes-version", "2.0"), "'2.0' is not a Kubernetes version", id="version-not-1.x"),
    ],
)
def test_unsupported_kubernetes_version_is_one_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = lint_process(str(write(tmp_path / "d.yaml", DEPLOYMENT)), *args)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert message in result.stderr


def test_broken_yaml_is_reported_with_its_position(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.yaml", "apiVersion: v1\nkind: ConfigMap\ndata: [\n")
    result = lint_process(str(path))
    assert result.returncode == 2
    assert result.stderr.startswith(f"{path}:")
    assert "Traceback" not in result.stderr


# kubeconform: an optional binary, never installed by pgrender --------------------------------------------------

FAKE_KUBECONFORM = """\
#!/bin/sh
printf '%s\\n' "$@" > "$(dirname "$0")/args"
echo "Summary: fake"
exit "${FAKE_EXIT:-0}"
"""


@pytest.fixture
def fake_kubeconform(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    script = write(bin_dir / "kubeconform", FAKE_KUBECONFORM)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def test_kubeconform_gets_strict_summary_and_a_full_version(tmp_path: Path, fake_kubeconform: Path) -> None:
    """kubeconform rejects -kubernetes-version 1.29: it wants x.y.z; kustomization.yaml is no object; the
    custom kinds pgrender checks with its bundled CRD schemas (SealedSecret, ExternalSecret, Certificate,
    Issuer) are skipped: kubeconform has no schema for them."""
    base = tmp_path / "base"
    write(base / "d.yaml", DEPLOYMENT)
    write(base / "kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n")
    env = {"PATH": f"{fake_kubeconform}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = run_cli("lint", str(base), "--kubeconform", "--kubernetes-version", "1.29", env=env)
    assert result.exit_code == 0
    assert (fake_kubeconform / "args").read_text().splitlines() == [
        "-strict",
        "-summary",
        "-skip",
        ",".join(sorted(f"{api_version}/{kind}" for api_version, kind in crds.custom_kinds())),
        "-kubernetes-version",
        "1.29.0",
        str(base / "d.yaml"),
    ]
    assert "Summary: fake" in result.stderr


def test_kubeconform_failure_fails_lint(tmp_path: Path, fake_kubeconform: Path) -> None:
    env = {"PATH": f"{fake_kubeconform}{os.pathsep}{os.environ.get('PATH', '')}", "FAKE_EXIT": "1"}
    result = run_cli("lint", str(write(tmp_path / "d.yaml", DEPLOYMENT)), "--kubeconform", env=env)
    assert result.exit_code == 1


def test_kubeconform_missing_exits_2(tmp_path: Path) -> None:
    result = run_cli("lint", str(write(tmp_path / "d.yaml", DEPLOYMENT)), "--kubeconform", env={"PATH": str(tmp_path)})
    assert result.exit_code == 2
    assert "no kubeconform binary on PATH" in result.stderr


def test_without_the_lint_extra_exits_2_naming_it(tmp_path: Path) -> None:
    """kubernetes-validate comes with the lint extra only: a plain install gets a message, not a traceback."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "kubernetes_validate.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'kubernetes_validate'\", name='kubernetes_validate')\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(shadow), os.environ.get("PYTHONPATH")]))}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, *args]
        return subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, check=False)

    assert "No module named 'kubernetes_validate'" in run("-c", "import kubernetes_validate").stderr
    for fmt in ("text", "github"):
        result = run("-m", "pgrender", "lint", str(GOLDEN_BASES[0]), "--format", fmt)
        assert result.returncode == 2, result.stderr
        assert (
            f'pip install "pgrender[lint] @ git+<your mirror of pgrender>@v{__version__}"' in result.stderr
            and "Traceback" not in result.stderr
        )
        assert result.stderr.count("\n") == 1 and result.stdout == ""


LAUGHS = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else 'lol'}]\n" for i in range(10))


@pytest.mark.parametrize(
    ("case", "text", "expected"),
    [
        ("deep", "a: " + "[" * 100_000 + "]" * 100_000 + "\n", ":1:"),
        ("billion-laughs", LAUGHS, ":"),
    ],
)
def test_hostile_yaml_is_a_positioned_problem(tmp_path: Path, case: str, text: str, expected: str) -> None:
    """lint reads with the spec loader: bounded depth and alias expansion, in a subprocess in case it crashes."""
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "pgrender", "lint", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2, result.stderr[-500:]
    assert result.stderr.startswith(f"{path}{expected}") and "Traceback" not in result.stderr


def test_a_link_in_the_output_is_not_read(tmp_path: Path) -> None:
    """lint quotes the values of what it reads: a link committed in the output, to a file outside
    shaped like an object, put that file's values in CI's log."""
    outside = write(tmp_path / "outside.yaml", CONFIG_MAP.replace("mode: fast", "mode: {nested: LINT-SECRET}"))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "zz.yaml").symlink_to(outside)
    result = run_cli("lint", str(tmp_path / "out"))
    assert result.exit_code == 2 and "LINT-SECRET" not in result.stdout + result.stderr
    assert "zz.yaml:" in result.stderr and "a link, not a file pgrender writes: not read" in result.stderr


@pytest.mark.parametrize(
    "data",
    [
        "stringData: {password: *S3CRETVALUE}",  # an undefined alias
        "stringData: {a: &S3CRETVALUE x, b: &S3CRETVALUE y}",  # a duplicate anchor
        "stringData: &S3CRETVALUE {a: *S3CRETVALUE}",  # an alias inside its anchor
    ],
)
def test_a_secrets_anchors_and_aliases_are_not_quoted(tmp_path: Path, data: str) -> None:
    """A Secret's value that YAML reads as an alias or anchor name stays out of lint's output (CI's log)."""
    path = tmp_path / "secret.yaml"
    path.write_text(f"apiVersion: v1\nkind: Secret\nmetadata: {{name: s, namespace: db}}\n{data}\n")
    result = run_cli("lint", str(path))
    assert result.exit_code == 2 and ":4:" in result.output, result.output
    assert "S3CRETVALUE" not in result.output
