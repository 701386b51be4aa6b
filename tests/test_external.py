"""Secrets provider `external`: ExternalSecrets whose templates make the Secrets apps read.

The strongest check renders each spec twice with the published key: with `derived` (the Secrets)
and with `external` (the ExternalSecrets); a store holding the derived values under the remote key
convention, fed through the ESO stand-in of tests/eso.py, must give back every derived Secret key
for key, byte for byte, but the SCRAM verifiers (computed in the cluster instead).
"""

from __future__ import annotations

import base64
import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pgrender.config import ExternalSecretsSettings, SecretsConfig
from pgrender.errors import PgrenderError
from pgrender.plans import validate
from pgrender.render import Request, render
from pgrender.secrets import Material, Quoting, SecretInput, secret_text, user_password
from pgrender.secrets.external import PROVIDER, RemoteRef, go_template, remote_name
from tests import eso
from tests.conftest import EXAMPLES, GOLDEN, GOLDEN_KEY, base_spec, run_cli

SPECS = [
    EXAMPLES / "pooled.yaml",  # pgBouncer: auth_file, pgbouncer-* keys
    EXAMPLES / "backups.yaml",  # repository passphrases, pgBackRest's certificate
    EXAMPLES / "restore.yaml",  # a clone: its source's passphrase, read from the source's keys
    EXAMPLES / "trio.yaml",  # several users
    GOLDEN / "naming-cnpg" / "spec.yaml",  # username, pgpass, fqdn-*, the CA Secret
    GOLDEN / "naming-zalando" / "spec.yaml",
    GOLDEN / "naming-pgd" / "spec.yaml",
    GOLDEN / "monitoring" / "spec.yaml",  # the monitoring role's password
]
# Passwords a store may hold: what every quoting must carry through a URI, .pgpass and auth_file.
AWKWARD = ["plain", "p@ss w:rd/?#&=+%", 'quote"back\\slash', "ünïcödé Ⅸ", "~-._", "{{ .password }}", "100%"]


def rendering(spec: Path, provider: str, settings: SecretsConfig | None = None) -> list[dict[str, Any]]:
    request = Request((str(spec),), str(GOLDEN_KEY), provider=provider, secrets_settings=settings)
    (cluster,) = render(request).clusters
    return [copy.deepcopy(m) for m in cluster.manifests]


def derived_store(spec: Path, settings: ExternalSecretsSettings) -> dict[tuple[str, str], str]:
    return eso.derived_store(str(spec), str(GOLDEN_KEY), settings)


def decoded(secret: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.parent.name if p.name == "spec.yaml" else p.stem)
def test_the_store_and_the_templates_make_the_derived_secrets(spec: Path) -> None:
    settings = ExternalSecretsSettings()
    derived = {m["metadata"]["name"]: m for m in rendering(spec, "derived") if m["kind"] == "Secret"}
    external = rendering(spec, "external")
    assert not [m for m in external if m["kind"] == "Secret"]
    made = {
        m["metadata"]["name"]: eso.secret_of(m, derived_store(spec, settings))
        for m in external
        if m["kind"] == "ExternalSecret"
    }
    assert set(made) == set(derived)
    for name, secret in derived.items():
        want = {k: v for k, v in decoded(secret).items() if k != "verifier"}
        assert decoded(made[name]) == want, name
        assert (made[name]["type"], made[name]["metadata"]["labels"]) == (secret["type"], secret["metadata"]["labels"])


@pytest.mark.parametrize("password", AWKWARD)
@pytest.mark.parametrize("quoting", list(Quoting))
def test_each_quoting_of_the_template_writes_what_derived_writes(password: str, quoting: Quoting) -> None:
    """urlquery | replace "+" "%20" is RFC 3986 percent-encoding (Python's quote(safe="")); the
    .pgpass and auth_file escapes are the derived provider's."""
    item = user_password("app", 0, quoting=quoting)
    text = secret_text("before{{", item, "}}after")
    ref = RemoteRef("k", "password")
    template = go_template(text, {ref: "password"}, {item: ref})
    assert eso.execute(template, {"password": password}) == "before{{" + item.quote(password) + "}}after"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        ("a b%+~", "a+b%25%2B~"),
        ("é/?", "%C3%A9%2F%3F"),
    ],
)
def test_eso_stand_in_query_escape_is_gos(text: str, expected: str) -> None:
    assert eso.query_escape(text) == expected


@pytest.mark.parametrize(
    ("template", "data", "expected"),
    [
        ('{{ "{{" }} .x }}', {}, "{{ .x }}"),
        ('{{ .x | replace "\\\\" "\\\\\\\\" }}', {"x": "a\\b"}, "a\\\\b"),
        ('{{ .x | replace "\\"" "\\"\\"" }}', {"x": 'a"b'}, 'a""b'),
        ("{{ .x }}{{ .y }}", {"x": "1", "y": "2"}, "12"),
    ],
)
def test_eso_stand_in_evaluates(template: str, data: dict[str, str], expected: str) -> None:
    assert eso.execute(template, data) == expected


@pytest.mark.parametrize(
    ("template", "data"),
    [("{{ .missing }}", {}), ("{{ .x | upper }}", {"x": ""}), ("{{ printf }}", {}), ("{{ .x", {"x": ""})],
)
def test_eso_stand_in_refuses_what_it_does_not_know(template: str, data: dict[str, str]) -> None:
    with pytest.raises(eso.TemplateError):
        eso.execute(template, data)


@pytest.mark.parametrize(
    ("item", "name", "prop"),
    [
        (SecretInput(Material.PASSWORD, "user:rhino"), "rhino", "password"),
        (SecretInput(Material.PASSWORD, "user:rhino", 3, Quoting.URI), "rhino", "password"),
        (SecretInput(Material.PASSWORD, "pgbouncer-auth"), "_pgrender_pgbouncer", "password"),
        (SecretInput(Material.PASSWORD, "patroni-restapi"), "_pgrender_patroni", "password"),
        (SecretInput(Material.PASSWORD, "pgbackrest-cipher:repo2"), "_pgrender_pgbackrest", "repo2"),
        (SecretInput(Material.CA_CERT, "ca"), "_pgrender_tls", "ca.crt"),
        (SecretInput(Material.CERT, "server"), "_pgrender_tls", "server.crt"),
        (SecretInput(Material.KEY, "replication"), "_pgrender_tls", "replication.key"),
    ],
)
def test_remote_key_convention(item: SecretInput, name: str, prop: str) -> None:
    assert remote_name(item) == (name, prop)


def test_a_verifier_has_no_place_in_the_store() -> None:
    with pytest.raises(ValueError):
        remote_name(SecretInput(Material.VERIFIER, "user:rhino"))


def test_a_clone_reads_its_sources_passphrase() -> None:
    (plan,) = validate((str(EXAMPLES / "restore.yaml"),))
    external = rendering(EXAMPLES / "restore.yaml", "external")
    refs = {e["remoteRef"]["key"] for m in external if m["kind"] == "ExternalSecret" for e in m["spec"]["data"]}
    source = plan.backups.source if plan.backups else None
    assert source is not None and source.repo.cipher_owner is not None
    owner_ns, owner = source.repo.cipher_owner
    assert f"{owner_ns}/{owner}/_pgrender_pgbackrest" in refs
    assert f"{plan.namespace}/{plan.name}/_pgrender_patroni" in refs


SETTINGS = SecretsConfig.model_validate(
    {
        "provider": "external",
        "external": {
            "apiVersion": "external-secrets.io/v1beta1",
            "store": {"kind": "SecretStore", "name": "vault"},
            "remoteKey": "pg-{cluster}",
            "property": "{namespace}.{name}.{property}",
            "refreshInterval": "15m",
            "passwordSync": None,
        },
    }
)


def test_settings_of_pgrender_yaml() -> None:
    objects = rendering(EXAMPLES / "hippo.yaml", "external", SETTINGS)
    secret = next(m for m in objects if m["metadata"]["name"] == "hippo-pguser-hippo")
    assert secret["apiVersion"] == "external-secrets.io/v1beta1"
    assert secret["spec"]["secretStoreRef"] == {"kind": "SecretStore", "name": "vault"}
    assert secret["spec"]["refreshInterval"] == "15m"
    refs = [e["remoteRef"] for e in secret["spec"]["data"]]
    assert refs == [
        {"key": "pg-hippo", "property": "postgres-operator.hippo.password"},
        {"key": "pg-hippo", "property": "postgres-operator._pgrender_tls.ca.crt"},
    ]
    assert not [m for m in objects if m["kind"] == "CronJob"]  # passwordSync: null


def test_defaults_without_pgrender_yaml() -> None:
    objects = rendering(EXAMPLES / "hippo.yaml", "external")
    secret = next(m for m in objects if m["metadata"]["name"] == "hippo-pguser-hippo")
    assert secret["apiVersion"] == "external-secrets.io/v1"
    assert secret["spec"]["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "pgrender"}
    assert secret["spec"]["refreshInterval"] == "1h"
    assert secret["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "-1"  # before the pods
    assert secret["spec"]["data"][0]["remoteRef"] == {"key": "postgres-operator/hippo/hippo", "property": "password"}
    (cron_job,) = [m for m in objects if m["kind"] == "CronJob"]
    assert (cron_job["metadata"]["name"], cron_job["spec"]["schedule"]) == ("hippo-passwords", "*/5 * * * *")


def test_values_told_apart_or_refused(tmp_path: Path) -> None:
    """A template that reads two values from one place is refused; a user cannot be named like
    pgrender's own values (roles starting with _pgrender are reserved), so the convention keeps them apart."""
    flat = SecretsConfig.model_validate({"external": {"remoteKey": "{namespace}/{cluster}", "property": "{property}"}})
    with pytest.raises(
        PgrenderError, match="would both be read from key 'postgres-operator/hippo' property 'password'"
    ):
        rendering(EXAMPLES / "hippo.yaml", "external", flat)
    spec = base_spec()
    spec["spec"]["users"] = [{"name": "_pgrender_patroni"}]
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = run_cli("render", str(path), "--stdout", "--secrets-provider", "external")
    assert result.exit_code == 2
    assert "'_pgrender_patroni' is reserved" in result.stderr


def test_no_secret_and_no_verifier_in_the_output() -> None:
    for spec in SPECS:
        text = yaml.safe_dump_all(rendering(spec, "external"))
        assert "kind: Secret\n" not in text
        assert "-----BEGIN" not in text and "SCRAM-SHA-256$4096:" not in text
        assert "verifier:" not in text


def test_the_reconcile_job_reads_passwords_and_computes_verifiers() -> None:
    objects = rendering(EXAMPLES / "pooled.yaml", "external")
    job = next(m for m in objects if m["kind"] == "Job" and "-reconcile-" in m["metadata"]["name"])
    env = {
        e["name"]: e.get("valueFrom", {}).get("secretKeyRef")
        for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["PGRENDER_PASSWORD_0"] == {"name": "pooled-pguser-shop", "key": "password"}
    assert env["PGRENDER_PGBOUNCER_PASSWORD"] == {"name": "pooled-pgbouncer", "key": "password"}
    assert not [name for name in env if "VERIFIER" in name]
    config = next(m for m in objects if m["kind"] == "ConfigMap" and m["metadata"]["name"] == "pooled-reconcile")
    script = config["data"]["reconcile.sh"]
    assert (
        'verifiers="$(python3 "$here/passwords.py" --psql=/usr/lib/postgresql/16/bin/psql '
        "PGRENDER_VERIFIER_0:PGRENDER_PASSWORD_0:shop "
        'PGRENDER_PGBOUNCER_VERIFIER:PGRENDER_PGBOUNCER_PASSWORD:_pgrender_pgbouncer)"\neval "$verifiers"\n'
    ) in script
    assert script.index("eval") < script.index("export PGRENDER_VERIFIER_0 PGRENDER_PGBOUNCER_VERIFIER\n")
    assert {"passwords.py", "passwords.sql", "password-sync.sh"} <= set(config["data"])
    sql = config["data"]["passwords.sql"]
    assert "ALTER ROLE %I PASSWORD %L', 'shop', :'verifier_0'" in sql
    assert "'_pgrender_pgbouncer', :'verifier_pgbouncer'" in sql


def test_derived_rendering_keeps_its_verifiers() -> None:
    objects = rendering(EXAMPLES / "pooled.yaml", "derived")
    config = next(m for m in objects if m["kind"] == "ConfigMap" and m["metadata"]["name"] == "pooled-reconcile")
    assert "passwords.py" not in config["data"] and "passwords.py" not in config["data"]["reconcile.sh"]
    assert not [m for m in objects if m["kind"] == "CronJob"]


def test_a_standby_gets_no_password_cron_job() -> None:
    objects = rendering(EXAMPLES / "standby.yaml", "external")
    assert not [m for m in objects if m["kind"] == "CronJob" and m["metadata"]["name"].endswith("-passwords")]


def test_a_rotation_bump_refreshes_the_external_secret_and_reruns_the_job(tmp_path: Path) -> None:
    spec = base_spec()
    spec["spec"]["users"] = [{"name": "app", "databases": ["app"]}]
    names = []
    annotations = []
    for rotation in (0, 1):
        spec["spec"]["users"][0]["passwordRotation"] = rotation
        path = tmp_path / f"spec{rotation}.yaml"
        path.write_text(yaml.safe_dump(spec))
        objects = rendering(path, "external")
        names.append(next(m["metadata"]["name"] for m in objects if m["kind"] == "Job"))
        secret = next(m for m in objects if m["metadata"]["name"] == "hippo-pguser-app")
        annotations.append(secret["metadata"]["annotations"]["pgrender.io/rotations"])
    assert annotations == ["ca=0 user:app=0", "ca=0 user:app=1"]
    assert names[0] != names[1]


def test_render_is_deterministic_and_needs_no_key() -> None:
    env = {"PGRENDER_KEY": None}
    args = ("render", str(EXAMPLES / "pooled.yaml"), "--stdout", "--secrets-provider", "external")
    first, second = run_cli(*args, env=env), run_cli(*args, env=env)
    assert first.exit_code == 0, first.stderr
    assert first.stdout == second.stdout


# The doors that write into a git work tree ------------------------------------------------------------------


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    git(tmp_path, "init", "-q")
    (tmp_path / "hippo.pgcluster.yaml").write_text((EXAMPLES / "hippo.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_render_write_and_check_take_external_output_into_git(repo: Path) -> None:
    (repo / "pgrender.yaml").write_text("secrets:\n  provider: external\n  external:\n    store: {name: vault}\n")
    written = run_cli("render", "--write", env={"PGRENDER_KEY": None})
    assert written.exit_code == 0, written.stderr
    files = {p.name: p.read_text() for p in (repo / "rendered").iterdir()}
    assert "externalsecret-hippo-pguser-hippo.yaml" in files
    assert not [n for n in files if n.startswith("secret-")]
    assert run_cli("check", env={"PGRENDER_KEY": None}).exit_code == 0
    git(repo, "add", "-A")


def test_the_plaintext_refusal_names_the_settings_that_fix_it(repo: Path) -> None:
    (repo / "pgrender.yaml").write_text("secrets:\n  provider: derived\n")
    result = run_cli("render", "--write", "--key-file", str(GOLDEN_KEY))
    assert result.exit_code == 2
    assert "set `secrets.provider` in pgrender.yaml to one of these" in result.stderr
    assert "`external`: External Secrets Operator ExternalSecrets" in result.stderr
    assert "`sealed`: " in result.stderr and "`existing`: " in result.stderr
    assert not (repo / "rendered").exists()


# Lint ---------------------------------------------------------------------------------------------------------


def test_lint_knows_external_secrets(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert (
        run_cli("render", str(EXAMPLES / "pooled.yaml"), "-o", str(out), "--secrets-provider", "external").exit_code
        == 0
    )
    assert run_cli("lint", str(out)).exit_code == 0
    path = out / "externalsecret-pooled-pguser-shop.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["bogus"] = True
    path.write_text(yaml.safe_dump(doc))
    result = run_cli("lint", str(out))
    assert result.exit_code == 1
    assert "ExternalSecret/pooled-pguser-shop.spec: Additional properties are not allowed ('bogus'" in result.stderr
    del doc["spec"]["bogus"]
    doc["spec"]["target"]["template"]["engineVersion"] = "v1"
    path.write_text(yaml.safe_dump(doc))
    result = run_cli("lint", str(out))
    assert result.exit_code == 1
    assert "ExternalSecret/pooled-pguser-shop.spec.target.template.engineVersion: 'v1' is not one of" in result.stderr


def test_the_unbound_provider_refuses_to_finish() -> None:
    with pytest.raises(AssertionError):
        PROVIDER.finish([])
