"""Argo CD CMP: `pgrender cmp generate` driven exactly as argocd-cmp-server runs it (a read-only app directory
of 0644 files as cwd, Argo CD's build environment, parameters and plugin env, a subprocess), and the shipped
integrations/argocd files: plugin.yaml, the repo-server sidecar patch, its kustomize Component, the Dockerfile
and an Application using the plugin."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from pgrender.cmp import DEFAULT_KEY_FILE
from tests.conftest import ALLOW_TEST_KEY, GOLDEN_KEY, ROOT, find, run_cli
from tests.test_overlays import kustomize_build

ARGOCD = ROOT / "integrations" / "argocd"
APP = ARGOCD / "app"
PLUGIN: dict[str, Any] = yaml.safe_load((ARGOCD / "plugin.yaml").read_text())
GENERATE: list[str] = PLUGIN["spec"]["generate"]["command"]
KEY_TEXT = GOLDEN_KEY.read_text().strip()
ARGOCD_APP_NAMESPACE = "orders"

Listing = dict[str, tuple[int, int, int]]


def listing(directory: Path) -> Listing:
    """Every path below ``directory`` with its mode, size and modification time."""
    out = {}
    for path in sorted(directory.rglob("*")):
        stat = path.lstat()
        out[str(path.relative_to(directory))] = (stat.st_mode, stat.st_size, stat.st_mtime_ns)
    return out


class Sandbox:
    """What the sidecar gives a plugin command: the unpacked app directory, a private /tmp and HOME."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.home = root / "home"
        self.key_file = root / "var" / "run" / "pgrender" / "root.key"
        for directory in (self.tmp, self.home, self.key_file.parent):
            directory.mkdir(parents=True)
        shutil.copyfile(GOLDEN_KEY, self.key_file)
        self.apps: list[Path] = []

    def app(self, files: dict[str, str] | None = None) -> Path:
        """An app directory as Argo CD unpacks it: files mode 0644, here also read-only (0555)."""
        directory = self.tmp / "_cmp_server" / f"request{len(self.apps)}" / "integrations" / "argocd" / "app"
        directory.mkdir(parents=True)
        sources = files if files is not None else {p.name: p.read_text() for p in APP.iterdir()}
        for name, text in sources.items():
            (directory / name).write_text(text)
            (directory / name).chmod(0o644)
        directory.chmod(0o555)
        self.apps.append(directory)
        return directory

    def env(self, **extra: str | None) -> dict[str, str]:
        """Argo CD's build environment (no PGRENDER_KEY unless given); a value of None removes a variable."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "TMPDIR": str(self.tmp),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",
            "ARGOCD_APP_NAME": "orders-db",
            "ARGOCD_APP_NAMESPACE": ARGOCD_APP_NAMESPACE,
            "ARGOCD_APP_PROJECT_NAME": "default",
            "ARGOCD_APP_REVISION": "0f3c1b2a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a",
            "ARGOCD_APP_REVISION_SHORT": "0f3c1b2",
            "ARGOCD_APP_REVISION_SHORT_8": "0f3c1b2a",
            "ARGOCD_APP_SOURCE_REPO_URL": "https://git.example.com/platform/databases.git",
            "ARGOCD_APP_SOURCE_PATH": "integrations/argocd/app",
            "ARGOCD_APP_SOURCE_TARGET_REVISION": "main",
            "KUBE_VERSION": "1.30.4",
            "KUBE_API_VERSIONS": "v1,apps/v1,batch/v1,policy/v1,rbac.authorization.k8s.io/v1",
            "ARGOCD_APP_PARAMETERS": json.dumps([{"name": "key-file", "string": str(self.key_file)}]),
            # The sandbox's key is the published test key, which pgrender refuses unless told.
            ALLOW_TEST_KEY: "1",
        }
        for name, value in extra.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def restore(self) -> None:
        for directory in self.apps:
            directory.chmod(0o755)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path)
    yield box
    box.restore()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The example app rendered with the key passed as a key-file parameter."""
    box = Sandbox(tmp_path_factory.mktemp("reference"))
    result = generate(box.app(), box.env())
    box.restore()
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def generate(app: Path, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """plugin.yaml's generate command, run as argocd-cmp-server runs it: no shell, cwd = the app directory."""
    assert GENERATE[0] == "pgrender"
    return subprocess.run(
        [sys.executable, "-m", *GENERATE], cwd=app, env=env, capture_output=True, timeout=60, check=False
    )


def objects(stdout: bytes) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(stdout.decode()))


def spec_text(namespace: str | None = None, size: str = "10Gi") -> str:
    text = (APP / "orders.pgcluster.yaml").read_text().replace("size: 10Gi", f"size: {size}")
    return text.replace("  name: orders\n", f"  name: orders\n  namespace: {namespace}\n") if namespace else text


CONFIG_TEXT = (APP / "pgrender.yaml").read_text()


# The output -------------------------------------------------------------------------------------------------


def test_generate_prints_only_kubernetes_objects(sandbox: Sandbox) -> None:
    result = generate(sandbox.app(), sandbox.env())
    assert result.returncode == 0, result.stderr.decode()
    documents = objects(result.stdout)
    assert all(isinstance(d, dict) for d in documents)
    assert all(d["apiVersion"] and d["kind"] and d["metadata"]["name"] for d in documents)
    assert "Kustomization" not in {d["kind"] for d in documents}
    assert {"StatefulSet", "Secret", "Service", "Job"} <= {d["kind"] for d in documents}


def test_stdout_holds_no_log_line_and_stderr_holds_the_log(sandbox: Sandbox) -> None:
    result = generate(sandbox.app(), sandbox.env())
    (before_first, *documents) = re.split(rb"^---\n", result.stdout, flags=re.MULTILINE)
    assert before_first == b""
    assert all(d.startswith(b"apiVersion: ") for d in documents)
    assert len(documents) == len(objects(result.stdout))
    assert result.stderr.decode() == "pgrender: rendered 1 spec file(s)\n"


def test_namespace_defaults_to_the_destination_namespace(sandbox: Sandbox) -> None:
    assert "namespace" not in yaml.safe_load((APP / "orders.pgcluster.yaml").read_text())["metadata"]
    result = generate(sandbox.app(), sandbox.env())
    assert {d["metadata"]["namespace"] for d in objects(result.stdout)} == {ARGOCD_APP_NAMESPACE}


def test_namespace_of_the_spec_wins_over_the_destination(sandbox: Sandbox) -> None:
    app = sandbox.app({"pgrender.yaml": CONFIG_TEXT, "orders.pgcluster.yaml": spec_text(namespace="payments")})
    result = generate(app, sandbox.env())
    assert {d["metadata"]["namespace"] for d in objects(result.stdout)} == {"payments"}


@pytest.mark.parametrize(
    ("pin", "namespace", "rendered"),
    [
        ("true", None, ARGOCD_APP_NAMESPACE),  # the destination's
        ("true", ARGOCD_APP_NAMESPACE, ARGOCD_APP_NAMESPACE),
        ("true", "payments", None),  # another team's namespace: its passwords would be derived here
        ("1", "payments", None),
        ("false", "payments", "payments"),
        ("", "payments", "payments"),
    ],
)
def test_a_pinned_plugin_renders_the_destination_namespace_only(
    sandbox: Sandbox, pin: str, namespace: str | None, rendered: str | None
) -> None:
    """PGRENDER_PIN_NAMESPACE in the sidecar's env (never the repository's): every cluster in the
    Application's destination namespace, or nothing rendered."""
    app = sandbox.app({"pgrender.yaml": CONFIG_TEXT, "orders.pgcluster.yaml": spec_text(namespace=namespace)})
    result = generate(app, {**sandbox.env(), "PGRENDER_PIN_NAMESPACE": pin})
    if rendered is not None:
        assert result.returncode == 0, result.stderr.decode()
        assert {d["metadata"]["namespace"] for d in objects(result.stdout)} == {rendered}
        return
    assert (result.returncode, result.stdout) == (2, b"")
    assert "orders.pgcluster.yaml:" in result.stderr.decode()
    assert f"metadata.namespace: the plugin renders clusters of namespace {ARGOCD_APP_NAMESPACE} only" in (
        result.stderr.decode()
    )


@pytest.mark.parametrize(
    ("pin", "destination", "message"),
    [
        ("maybe", ARGOCD_APP_NAMESPACE, "PGRENDER_PIN_NAMESPACE='maybe': expected true or false"),
        ("true", None, "PGRENDER_PIN_NAMESPACE is set, but Argo CD gave no destination namespace"),
    ],
)
def test_a_pin_needs_a_destination(sandbox: Sandbox, pin: str, destination: str | None, message: str) -> None:
    env = {**sandbox.env(), "PGRENDER_PIN_NAMESPACE": pin}
    env.pop("ARGOCD_APP_NAMESPACE", None)
    if destination:
        env["ARGOCD_APP_NAMESPACE"] = destination
    result = generate(sandbox.app(), env)
    assert result.returncode == 2 and message in result.stderr.decode(), result.stderr.decode()


@pytest.mark.parametrize(
    "how",
    [
        {"ARGOCD_APP_PARAMETERS": "KEY_FILE_PARAMETER"},
        {"ARGOCD_APP_PARAMETERS": None, "PARAM_KEY_FILE": "KEY_FILE"},
        {"ARGOCD_APP_PARAMETERS": None, "ARGOCD_ENV_PGRENDER_KEY_FILE": "KEY_FILE"},
        {"ARGOCD_APP_PARAMETERS": None, "PGRENDER_KEY": KEY_TEXT},
    ],
    ids=["app-parameters", "param-env", "plugin-env", "pgrender-key"],
)
def test_every_way_of_passing_the_key_renders_the_same(
    sandbox: Sandbox, reference: bytes, how: dict[str, str | None]
) -> None:
    key_file = str(sandbox.key_file)
    parameter = json.dumps([{"name": "key-file", "string": key_file}])
    env = {k: (parameter if v == "KEY_FILE_PARAMETER" else key_file if v == "KEY_FILE" else v) for k, v in how.items()}
    result = generate(sandbox.app(), sandbox.env(**env))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == reference


def test_the_repositorys_key_file_is_never_the_plugins(sandbox: Sandbox, reference: bytes) -> None:
    """pgrender.yaml naming a key committed beside the specs: the plugin renders with its own key
    (the output is the reference's) and says it did not use the repository's."""
    app = sandbox.app()
    (app / "attacker.key").write_text("1" * 64 + "\n")
    config = app / "pgrender.yaml"
    config.write_text(config.read_text().replace("secrets:\n", "secrets:\n  keyFile: attacker.key\n", 1))
    assert "keyFile: attacker.key" in config.read_text()
    result = generate(app, sandbox.env())
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == reference
    assert b"secrets.keyFile is not used by the plugin" in result.stderr


@pytest.mark.parametrize("how", ["ARGOCD_ENV_PGRENDER_KEY_FILE", "PARAM_KEY_FILE"])
def test_a_plugin_key_inside_the_checkout_is_refused(sandbox: Sandbox, how: str) -> None:
    """The Application names a key committed in the repository (relative paths are the checkout's)."""
    app = sandbox.app()
    (app / "keys").mkdir()
    shutil.copyfile(GOLDEN_KEY, app / "keys" / "root.key")
    result = generate(app, sandbox.env(ARGOCD_APP_PARAMETERS=None, **{how: "keys/root.key"}))
    assert result.returncode == 2 and result.stdout == b""
    assert b"keys/root.key: the plugin's root key is in the application's checkout" in result.stderr


@pytest.mark.parametrize(
    "provider_env",
    [
        {"ARGOCD_APP_PARAMETERS": json.dumps([{"name": "secrets-provider", "string": "existing"}])},
        {"ARGOCD_APP_PARAMETERS": None, "PARAM_SECRETS_PROVIDER": "existing"},
        {"ARGOCD_APP_PARAMETERS": None, "ARGOCD_ENV_PGRENDER_SECRETS_PROVIDER": "existing"},
    ],
    ids=["app-parameters", "param-env", "plugin-env"],
)
def test_existing_provider_leaves_secrets_out_and_needs_no_key(
    sandbox: Sandbox, provider_env: dict[str, str | None]
) -> None:
    result = generate(sandbox.app(), sandbox.env(**provider_env))
    assert result.returncode == 0, result.stderr.decode()
    kinds = {d["kind"] for d in objects(result.stdout)}
    assert "Secret" not in kinds
    assert "StatefulSet" in kinds


def test_parameters_win_over_the_plugin_env(sandbox: Sandbox) -> None:
    env = sandbox.env(PARAM_SECRETS_PROVIDER="existing", ARGOCD_ENV_PGRENDER_SECRETS_PROVIDER="derived")
    result = generate(sandbox.app(), env)
    assert "Secret" not in {d["kind"] for d in objects(result.stdout)}


def test_output_is_byte_identical_across_runs(sandbox: Sandbox, reference: bytes) -> None:
    """Another process, another PYTHONHASHSEED, another app directory and TMPDIR: the same bytes."""
    result = generate(sandbox.app(), sandbox.env(PYTHONHASHSEED="4242"))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == reference


def test_writes_nothing_anywhere(sandbox: Sandbox) -> None:
    """Not in the app directory, not in TMPDIR (the sidecar's /tmp, which holds the app directory), not in HOME."""
    app = sandbox.app()
    before = listing(sandbox.tmp)
    result = generate(app, sandbox.env())
    assert result.returncode == 0, result.stderr.decode()
    assert listing(sandbox.tmp) == before
    assert list(sandbox.home.iterdir()) == []


def test_the_root_key_never_reaches_stderr(sandbox: Sandbox) -> None:
    bad_spec = spec_text(size="lots")
    app = sandbox.app({"pgrender.yaml": CONFIG_TEXT, "orders.pgcluster.yaml": bad_spec})
    for result in (generate(sandbox.app(), sandbox.env(PGRENDER_KEY=KEY_TEXT)), generate(app, sandbox.env())):
        assert KEY_TEXT.encode() not in result.stderr


# Failures: a non-zero exit and nothing on stdout (empty output with prune: true would delete everything) ---


def _missing_key_env(sandbox: Sandbox) -> dict[str, str]:
    return sandbox.env(ARGOCD_APP_PARAMETERS=json.dumps([{"name": "key-file", "string": str(sandbox.root / "nokey")}]))


def _parameters_env(parameters: object) -> Callable[[Sandbox], tuple[None, dict[str, str]]]:
    """ARGOCD_APP_PARAMETERS as given (after a well-formed key-file, where it is a list)."""

    def env(sandbox: Sandbox) -> tuple[None, dict[str, str]]:
        key = [{"name": "key-file", "string": str(sandbox.key_file)}]
        sent = key + parameters if isinstance(parameters, list) and "key-file" not in str(parameters) else parameters
        return None, sandbox.env(ARGOCD_APP_PARAMETERS=json.dumps(sent))

    return env


FAILURES: list[tuple[str, Callable[[Sandbox], tuple[dict[str, str] | None, dict[str, str]]], str]] = [
    (
        "bad-spec",
        lambda s: ({"pgrender.yaml": CONFIG_TEXT, "orders.pgcluster.yaml": spec_text(size="lots")}, s.env()),
        "orders.pgcluster.yaml:16:9: spec.instances[0].dataVolume.size: 'lots' is not a Kubernetes quantity",
    ),
    ("missing-key-file", lambda s: (None, _missing_key_env(s)), "nokey: cannot read the key file"),
    (
        "default-key-file-absent",
        lambda s: (None, s.env(ARGOCD_APP_PARAMETERS=None)),
        f"{DEFAULT_KEY_FILE}: cannot read the key file",
    ),
    (
        "unknown-provider-parameter",
        lambda s: (None, s.env(ARGOCD_APP_PARAMETERS=json.dumps([{"name": "secrets-provider", "string": "vault"}]))),
        "parameter secrets-provider: unknown secrets provider",
    ),
    (
        "unknown-provider-param-env",
        lambda s: (None, s.env(PARAM_SECRETS_PROVIDER="vault")),
        "parameter secrets-provider: unknown secrets provider",
    ),
    (
        "unknown-provider-plugin-env",
        lambda s: (None, s.env(ARGOCD_ENV_PGRENDER_SECRETS_PROVIDER="vault")),
        "parameter secrets-provider: unknown secrets provider",
    ),
    *(
        (f"parameters-{name}", _parameters_env(parameters), message)
        for name, parameters, message in [
            ("provider-array", [{"name": "secrets-provider", "array": ["existing"]}], "found array a list"),
            ("provider-map", [{"name": "secrets-provider", "map": {"a": "existing"}}], "found map an object"),
            ("provider-number", [{"name": "secrets-provider", "string": 5}], "found string a number"),
            ("provider-null", [{"name": "secrets-provider", "string": None}], "found string null"),
            ("provider-no-value", [{"name": "secrets-provider"}], "found no value"),
            ("key-file-array", [{"name": "key-file", "array": ["/k"]}], "parameter key-file: expected a string"),
            ("an-object", {"name": "secrets-provider", "string": "existing"}, "expected a list of parameters"),
            ("an-entry-string", ["secrets-provider"], "ARGOCD_APP_PARAMETERS[1]: expected an object with a name"),
            ("an-entry-unnamed", [{"string": "existing"}], "ARGOCD_APP_PARAMETERS[1]: expected an object with a name"),
            (
                "provider-twice",
                [{"name": "secrets-provider", "string": "existing"}] * 2,
                "parameter secrets-provider is set twice",
            ),
        ]
    ),
    (
        "parameters-not-json",
        lambda s: (None, s.env(ARGOCD_APP_PARAMETERS="[{name: key-file")),
        "ARGOCD_APP_PARAMETERS is not valid JSON",
    ),
    (
        "no-spec-file",
        lambda s: ({"pgrender.yaml": CONFIG_TEXT}, s.env()),
        "specs: no file matches ['*.pgcluster.yaml']",
    ),
    (
        "no-namespace-anywhere",
        lambda s: (None, s.env(ARGOCD_APP_NAMESPACE=None)),
        "metadata.namespace: required field is missing",
    ),
    (
        "bad-repository-config",
        lambda s: ({"pgrender.yaml": CONFIG_TEXT + "colour: red\n", "orders.pgcluster.yaml": spec_text()}, s.env()),
        "pgrender.yaml:13:1: colour: unknown field",
    ),
]


@pytest.mark.parametrize(("files_env", "message"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES])
def test_failures_exit_2_with_nothing_on_stdout(
    sandbox: Sandbox, files_env: Callable[[Sandbox], tuple[dict[str, str] | None, dict[str, str]]], message: str
) -> None:
    if DEFAULT_KEY_FILE in message and Path(DEFAULT_KEY_FILE).exists():
        pytest.skip(f"{DEFAULT_KEY_FILE} exists on this machine")
    files, env = files_env(sandbox)
    result = generate(sandbox.app(files), env)
    assert result.returncode == 2
    assert result.stdout == b""
    assert message in result.stderr.decode()
    assert b"Traceback" not in result.stderr


def test_an_unknown_parameter_name_is_an_error(sandbox: Sandbox) -> None:
    key = {"name": "key-file", "string": str(sandbox.key_file)}
    typo = json.dumps([{"name": "secret-provider", "string": "existing"}, key])
    result = generate(sandbox.app(), sandbox.env(ARGOCD_APP_PARAMETERS=typo))
    assert result.returncode == 2
    assert result.stdout == b""


# plugin.yaml --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("kind",), "ConfigManagementPlugin"),
        (("metadata", "name"), "pgrender"),
        (("spec", "version"), "v1"),
        (("spec", "generate", "command"), ["pgrender", "cmp", "generate"]),
        (("spec", "discover", "fileName"), "./pgrender.yaml"),
    ],
)
def test_plugin_yaml_fields(path: tuple[str, ...], expected: Any) -> None:
    value: Any = PLUGIN
    for key in path:
        value = value[key]
    assert value == expected


def test_plugin_yaml_has_only_fields_argo_cd_reads() -> None:
    """Argo CD ignores unknown keys silently (lockRepo, allowConcurrency): a typo would go unnoticed."""
    assert set(PLUGIN) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(PLUGIN["spec"]) <= {
        "version",
        "init",
        "generate",
        "discover",
        "parameters",
        "preserveFileMode",
        "provideGitCreds",
    }


def test_generate_command_is_what_the_tests_run() -> None:
    """The tests run `python -m pgrender cmp generate`; the image runs the `pgrender` console script: the same."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[GENERATE[0]] == "pgrender.record:main"  # the no-op path first, then pgrender.cli:main
    main = (ROOT / "pgrender" / "__main__.py").read_text().splitlines()
    assert "from pgrender.record import main" in main and main[-1] == "main()"


def test_discovery_matches_the_example_app() -> None:
    assert (APP / PLUGIN["spec"]["discover"]["fileName"]).is_file()


def test_announced_parameters_are_those_of_cmp_parameters() -> None:
    result = run_cli("cmp", "parameters")
    assert result.exit_code == 0
    assert PLUGIN["spec"]["parameters"]["static"] == json.loads(result.stdout)
    assert "dynamic" not in PLUGIN["spec"]["parameters"], "static and dynamic announcements would both show"


def test_announced_key_file_default_is_the_one_generate_applies() -> None:
    (announced,) = [p for p in PLUGIN["spec"]["parameters"]["static"] if p["name"] == "key-file"]
    assert announced["string"] == DEFAULT_KEY_FILE


# The sidecar: repo-server patch, Component, Dockerfile -------------------------------------------------------

PATCH: dict[str, Any] = yaml.safe_load((ARGOCD / "repo-server-patch.yaml").read_text())
ARGOCD_REPO_SERVER = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: argocd-repo-server
  labels: {app.kubernetes.io/name: argocd-repo-server}
spec:
  selector:
    matchLabels: {app.kubernetes.io/name: argocd-repo-server}
  template:
    metadata:
      labels: {app.kubernetes.io/name: argocd-repo-server}
    spec:
      containers:
        - name: argocd-repo-server
          image: quay.io/argoproj/argocd:v3.5.1
          volumeMounts:
            - {name: var-files, mountPath: /var/run/argocd}
            - {name: plugins, mountPath: /home/argocd/cmp-server/plugins}
      volumes:
        - {name: var-files, emptyDir: {}}
        - {name: plugins, emptyDir: {}}
"""


def sidecar(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "pgrender"]
    return container


def mounts(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """mountPath → the mount and its volume (None for volumes the patch does not define)."""
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    return {m["mountPath"]: {**m, "volume": volumes.get(m["name"])} for m in sidecar(deployment)["volumeMounts"]}


def test_patch_targets_the_repo_server() -> None:
    assert (PATCH["apiVersion"], PATCH["kind"], PATCH["metadata"]["name"]) == (
        "apps/v1",
        "Deployment",
        "argocd-repo-server",
    )


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("command", ["/var/run/argocd/argocd-cmp-server"]),
        ("securityContext.runAsUser", 999),
        ("securityContext.runAsNonRoot", True),
        ("securityContext.readOnlyRootFilesystem", True),
        ("securityContext.allowPrivilegeEscalation", False),
    ],
)
def test_sidecar_fields(field: str, expected: Any) -> None:
    value: Any = sidecar(PATCH)
    for key in field.split("."):
        value = value[key]
    assert value == expected


def test_sidecar_mounts_the_shared_argo_cd_volumes() -> None:
    """var-files and plugins are argocd-repo-server's own volumes: the patch mounts them, never redefines them."""
    by_path = {m["mountPath"]: m["name"] for m in sidecar(PATCH)["volumeMounts"]}
    assert by_path["/var/run/argocd"] == "var-files"
    assert by_path["/home/argocd/cmp-server/plugins"] == "plugins"
    assert {"var-files", "plugins"}.isdisjoint(v["name"] for v in PATCH["spec"]["template"]["spec"]["volumes"])


def test_component_builds_the_sidecar_into_argo_cd(tmp_path: Path) -> None:
    """The Component, included from an Argo CD install kustomization, adds the ConfigMap and the sidecar."""
    (tmp_path / "argocd-repo-server.yaml").write_text(ARGOCD_REPO_SERVER)
    component = os.path.relpath(ARGOCD, tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        f"namespace: argocd\nresources: [argocd-repo-server.yaml]\ncomponents: [{component}]\n"
    )
    built = kustomize_build(tmp_path)
    (config_map,) = [o for o in built if o["kind"] == "ConfigMap"]
    deployment = find(built, "Deployment", "argocd-repo-server")
    found = mounts(deployment)
    assert re.fullmatch(r"pgrender-cmp-plugin-[a-z0-9]{10}", config_map["metadata"]["name"])
    assert config_map["data"]["plugin.yaml"] == (ARGOCD / "plugin.yaml").read_text()
    assert found["/home/argocd/cmp-server/config/plugin.yaml"]["subPath"] == "plugin.yaml"
    assert (
        found["/home/argocd/cmp-server/config/plugin.yaml"]["volume"]["configMap"]["name"]
        == (config_map["metadata"]["name"])
    )
    assert found["/var/run/argocd"]["volume"] == {"name": "var-files", "emptyDir": {}}
    assert found["/home/argocd/cmp-server/plugins"]["volume"] == {"name": "plugins", "emptyDir": {}}
    assert found["/tmp"]["volume"] == {"name": "pgrender-cmp-tmp", "emptyDir": {}}
    for obj in built:
        kubernetes_validate.validate(obj, "1.28", strict=True)
        kubernetes_validate.validate(obj, kubernetes_validate.latest_version(), strict=True)


def test_root_key_is_mounted_read_only_where_generate_reads_it() -> None:
    found = mounts(PATCH)
    key_dir = str(Path(DEFAULT_KEY_FILE).parent)
    secret = found[key_dir]["volume"]["secret"]
    assert found[key_dir]["readOnly"] is True
    assert secret["secretName"] == "pgrender-root-key"
    assert [f"{key_dir}/{item['path']}" for item in secret["items"]] == [DEFAULT_KEY_FILE]


def test_private_tmp_for_the_sidecar() -> None:
    found = mounts(PATCH)
    assert found["/tmp"]["volume"]["emptyDir"] == {}
    assert {e["name"]: e["value"] for e in sidecar(PATCH)["env"]}["HOME"] == "/tmp"


DOCKERFILE = (ARGOCD / "Dockerfile").read_text()


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    lines = [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def dockerfile_env() -> dict[str, str]:
    env = {}
    for instruction, args in dockerfile_instructions():
        if instruction == "ENV":
            env.update(dict(pair.split("=", 1) for pair in args.split()))
    return env


@pytest.mark.parametrize(
    ("name", "value"), [("HOME", "/tmp"), ("PYTHONDONTWRITEBYTECODE", "1"), ("PIP_NO_CACHE_DIR", "1")]
)
def test_dockerfile_env(name: str, value: str) -> None:
    assert dockerfile_env()[name] == value


def test_dockerfile_base_user_and_install() -> None:
    """The base pinned by digest; the dependencies from the lock file by hash, then pgrender alone."""
    instructions = dockerfile_instructions()
    assert re.fullmatch(r"python:3\.1[1-9](\.[0-9]+)?-slim(-[a-z]+)?@sha256:[0-9a-f]{64}", instructions[0][1])
    assert [args for instruction, args in instructions if instruction == "USER"] == ["999"]
    assert instructions[-1] == ("WORKDIR", "/tmp")
    runs = [args for instruction, args in instructions if instruction == "RUN"]
    assert runs[0] == "pip install --no-deps --require-hashes -r /src/requirements.lock"
    assert runs[1].startswith("pip install --no-deps --no-build-isolation /src && rm -rf /src")


def test_dockerfile_copies_what_pip_install_needs() -> None:
    """pyproject.toml names README.md as the readme: the build fails without it."""
    copied = [args.split()[:-1] for instruction, args in dockerfile_instructions() if instruction == "COPY"]
    sources = {s for group in copied for s in group}
    assert sources == {"integrations/argocd/requirements.lock", "pyproject.toml", "README.md", "pgrender"}
    assert all((ROOT / s).exists() for s in sources)
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["readme"] == "README.md"


# The Application ----------------------------------------------------------------------------------------------

APPLICATION: dict[str, Any] = yaml.safe_load((ARGOCD / "application.yaml").read_text())


def test_application_names_the_plugin_with_its_version() -> None:
    plugin = APPLICATION["spec"]["source"]["plugin"]
    assert plugin["name"] == f"{PLUGIN['metadata']['name']}-{PLUGIN['spec']['version']}"


def test_application_sets_only_announced_parameters_to_valid_values(sandbox: Sandbox) -> None:
    parameters = APPLICATION["spec"]["source"]["plugin"]["parameters"]
    announced = {p["name"] for p in PLUGIN["spec"]["parameters"]["static"]}
    assert {p["name"] for p in parameters} <= announced
    as_sent = json.dumps([p if p["name"] != "key-file" else {**p, "string": str(sandbox.key_file)} for p in parameters])
    result = generate(sandbox.app(), sandbox.env(ARGOCD_APP_PARAMETERS=as_sent))
    assert result.returncode == 0, result.stderr.decode()


def test_application_points_at_the_example_app() -> None:
    assert (ROOT / APPLICATION["spec"]["source"]["path"]) == APP
    assert APPLICATION["spec"]["destination"]["namespace"] == ARGOCD_APP_NAMESPACE
