"""pgAdmin 4 (spec.userInterface.pgAdmin): what is rendered for which spec, the settings refused, the
logins and servers start.py is handed, and start.py's own helpers. tests/runtime/test_pgadmin.py runs
the rendered pod with pgAdmin itself."""

from __future__ import annotations

import base64
import json
import runpy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pgrender import pgadmin_start
from pgrender.errors import SpecError
from pgrender.plans import validate
from tests.conftest import EXAMPLES, base_spec, rendered_by_name

Objects = dict[tuple[str, str], dict[str, Any]]
OBJECTS = [("ConfigMap", "hippo-pgadmin"), ("Secret", "hippo-pgadmin"), ("PersistentVolumeClaim", "hippo-pgadmin")]
OBJECTS += [("StatefulSet", "hippo-pgadmin"), ("Service", "hippo-pgadmin"), ("NetworkPolicy", "hippo-pgadmin")]


def with_pgadmin(**pgadmin: Any) -> dict[str, Any]:
    spec = base_spec()
    spec["spec"]["userInterface"] = {"pgAdmin": {"dataVolume": {"size": "1Gi"}, **pgadmin}}
    spec["spec"]["users"] = [
        {"name": "hippo", "databases": ["zoo"]},
        {"name": "alice", "databases": ["zoo", "shop"]},
        {"name": "readers", "options": {"login": False}},
    ]
    return spec


def rendered(spec: dict[str, Any], tmp_path: Path, name: str = "spec.yaml") -> Objects:
    return rendered_by_name(spec, tmp_path / name)


def pod(objects: Objects) -> dict[str, Any]:
    template: dict[str, Any] = objects[("StatefulSet", "hippo-pgadmin")]["spec"]["template"]
    return template


def config_map(objects: Objects) -> dict[str, str]:
    data: dict[str, str] = objects[("ConfigMap", "hippo-pgadmin")]["data"]
    return data


def settings(objects: Objects) -> dict[str, Any]:
    """config_system.py run as pgAdmin runs it: its module globals are the settings."""
    scope: dict[str, Any] = {}
    exec(config_map(objects)["config_system.py"], scope)  # the rendered file, as pgAdmin loads it
    return {k: v for k, v in scope.items() if not k.startswith("__")}


def test_nothing_without_pgadmin(tmp_path: Path) -> None:
    objects = rendered(base_spec(), tmp_path)
    assert not [key for key in objects if "pgadmin" in key[1]]


def test_objects(tmp_path: Path) -> None:
    objects = rendered(with_pgadmin(), tmp_path)
    assert sorted(key for key in objects if "pgadmin" in key[1]) == sorted(OBJECTS)
    claim = objects[("PersistentVolumeClaim", "hippo-pgadmin")]
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert claim["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] == "Prune=false,Delete=false"
    service = objects[("Service", "hippo-pgadmin")]["spec"]
    assert service["ports"] == [{"name": "pgadmin", "port": 5050, "protocol": "TCP", "targetPort": "pgadmin"}]
    labels = pod(objects)["metadata"]["labels"]
    assert labels | service["selector"] == labels  # it selects the pod


def test_logins_and_servers(tmp_path: Path) -> None:
    """Every user that logs in gets <user>@pgo with its own password and one server: its Secret's host,
    port and database, verify-full against the CA; the Administrator has none."""
    objects = rendered(with_pgadmin(), tmp_path)
    config = json.loads(config_map(objects)["pgadmin.json"])
    assert config["serverGroup"] == "hippo"
    logins = {login["email"]: login for login in config["logins"]}
    assert list(logins) == ["admin@pgrender", "hippo@pgo", "alice@pgo"]  # readers cannot log in
    assert logins["admin@pgrender"] == {
        "email": "admin@pgrender",
        "passwordEnv": "PGADMIN_SETUP_PASSWORD",
        "role": "Administrator",
        "servers": [],
    }
    alice = logins["alice@pgo"]
    assert (alice["role"], alice["passwordFile"]) == ("User", "/etc/pgadmin-users/alice")
    secret = {k: base64.b64decode(v).decode() for k, v in objects[("Secret", "hippo-pguser-alice")]["data"].items()}
    assert alice["servers"] == [
        {
            "ConnectionParameters": {"sslmode": "verify-full", "sslrootcert": "pgrender:/ca.crt"},
            "Group": "hippo",
            "Host": secret["host"],
            "MaintenanceDB": secret["dbname"],
            "Name": "hippo",
            "Port": int(secret["port"]),
            "Username": "alice",
        }
    ]
    assert (secret["host"], secret["dbname"]) == ("hippo-primary.db.svc", "zoo")


def test_mounts(tmp_path: Path) -> None:
    """The passwords from the users' own Secrets, the CA alone where pgAdmin's logins can browse."""
    objects = rendered(with_pgadmin(), tmp_path)
    volumes = {v["name"]: v for v in pod(objects)["spec"]["volumes"]}
    sources = volumes["users"]["projected"]["sources"]
    assert [(s["secret"]["name"], s["secret"]["items"]) for s in sources] == [
        ("hippo-pguser-alice", [{"key": "password", "path": "alice"}]),
        ("hippo-pguser-hippo", [{"key": "password", "path": "hippo"}]),
    ]
    (ca,) = volumes["ca"]["projected"]["sources"]
    assert ca["secret"] == {"name": "hippo-pgadmin", "items": [{"key": "ca.crt", "path": "ca.crt"}]}
    assert settings(objects)["SHARED_STORAGE"] == [
        {"name": "pgrender", "path": "/etc/pgadmin-ca", "restricted_access": True}
    ]
    secret = objects[("Secret", "hippo-pgadmin")]["data"]
    assert base64.b64decode(secret["ca.crt"]) == base64.b64decode(
        objects[("Secret", "hippo-pguser-alice")]["data"]["ca.crt"]
    )
    assert base64.b64decode(secret["username"]) == b"admin@pgrender"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({}, {"SERVER_MODE": True, "DATA_DIR": "/var/lib/pgadmin", "LOG_FILE": "/dev/null"}),
        ({"LOG_FILE": "/var/lib/pgadmin/pgadmin4.log"}, {"LOG_FILE": "/var/lib/pgadmin/pgadmin4.log"}),
        ({"MAX_LOGIN_ATTEMPTS": 5, "MASTER_PASSWORD_REQUIRED": False}, {"MAX_LOGIN_ATTEMPTS": 5}),
        ({"ENHANCED_COOKIE_PROTECTION": True}, {"ENHANCED_COOKIE_PROTECTION": True, "GLOBALLY_DELIVERABLE": False}),
        ({"AUTHENTICATION_SOURCES": ["ldap", "internal"]}, {"AUTHENTICATION_SOURCES": ["ldap", "internal"]}),
    ],
)
def test_settings(tmp_path: Path, given: dict[str, Any], expected: dict[str, Any]) -> None:
    got = settings(rendered(with_pgadmin(settings=given), tmp_path))
    assert {k: got[k] for k in expected} == expected
    assert got["DEFAULT_BINARY_PATHS"] == {"pg": "/usr/local/pgsql-16"}


def test_secret_settings(tmp_path: Path) -> None:
    """A secret setting's value is mounted from its Secret and read by config_system.py when pgAdmin
    starts; it is never in the ConfigMap."""
    ldap = {"secretName": "pgadmin-ldap", "key": "bind-password"}
    objects = rendered(with_pgadmin(secretSettings={"LDAP_BIND_PASSWORD": ldap}), tmp_path)
    volumes = {v["name"]: v for v in pod(objects)["spec"]["volumes"]}
    (source,) = volumes["secrets"]["projected"]["sources"]
    assert source["secret"] == {
        "name": "pgadmin-ldap",
        "items": [{"key": "bind-password", "path": "LDAP_BIND_PASSWORD"}],
    }
    mounts = {m["name"]: m["mountPath"] for m in pod(objects)["spec"]["containers"][0]["volumeMounts"]}
    assert mounts["secrets"] == "/etc/pgadmin-secrets"
    text = config_map(objects)["config_system.py"]
    (tmp_path / "LDAP_BIND_PASSWORD").write_text("bind s3cret")  # the file kubelet writes from the Secret
    scope: dict[str, Any] = {}
    exec(text.replace("/etc/pgadmin-secrets", str(tmp_path)), scope)  # as pgAdmin loads it, here
    assert scope["LDAP_BIND_PASSWORD"] == "bind s3cret"
    assert [k for k in scope if not k.startswith("__") and k.isupper()].count("LDAP_BIND_PASSWORD") == 1


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"SERVER_MODE": False}, "SERVER_MODE is pgrender's"),
        ({"DATA_DIR": "/tmp"}, "DATA_DIR is pgrender's"),
        ({"SHARED_STORAGE": "x"}, "SHARED_STORAGE is pgrender's"),
        ({"ENABLE_SERVER_PASS_EXEC_CMD": True}, "never fetched by a command"),
        ({"log_file": "x"}, "not a pgAdmin setting name"),
    ],
)
def test_settings_refused(write_spec: Callable[..., Path], given: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as exc:
        validate((str(write_spec(with_pgadmin(settings=given))),))
    (problem,) = exc.value.problems
    assert problem.path == "spec.userInterface.pgAdmin.settings"
    assert message in problem.message


@pytest.mark.parametrize(
    ("given", "path", "message"),
    [
        (
            {"secretSettings": {"DATA_DIR": {"secretName": "s", "key": "k"}}},
            ".secretSettings",
            "DATA_DIR is pgrender's",
        ),
        (
            {"settings": {"LOGIN_BANNER": "hi"}, "secretSettings": {"LOGIN_BANNER": {"secretName": "s", "key": "k"}}},
            "",
            "LOGIN_BANNER: given in settings and in secretSettings",
        ),
    ],
)
def test_secret_settings_refused(
    write_spec: Callable[..., Path], given: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(SpecError) as exc:
        validate((str(write_spec(with_pgadmin(**given))),))
    (problem,) = exc.value.problems
    assert problem.path == "spec.userInterface.pgAdmin" + path
    assert message in problem.message


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, {"runAsUser": 5050, "runAsGroup": 5050, "fsGroup": 5050}),
        ({"runAsUser": 1000, "runAsGroup": 2000}, {"runAsUser": 1000, "runAsGroup": 2000, "fsGroup": 2000}),
    ],
)
def test_pod_ids(tmp_path: Path, spec: dict[str, Any], expected: dict[str, int]) -> None:
    context = pod(rendered(with_pgadmin(**spec), tmp_path))["spec"]["securityContext"]
    assert {k: context[k] for k in expected} == expected


def test_openshift_leaves_ids_out(tmp_path: Path) -> None:
    spec = with_pgadmin()
    spec["spec"]["openshift"] = True
    context = pod(rendered(spec, tmp_path))["spec"]["securityContext"]
    assert not {"runAsUser", "runAsGroup", "fsGroup"} & set(context)


def test_shutdown_stops_pgadmin(tmp_path: Path) -> None:
    spec = with_pgadmin()
    spec["spec"]["shutdown"] = True
    assert rendered(spec, tmp_path)[("StatefulSet", "hippo-pgadmin")]["spec"]["replicas"] == 0


@pytest.mark.parametrize(
    ("change", "restarts"),
    [
        (lambda s: s["spec"]["users"][1].update(passwordRotation=1), True),  # alice's password
        (lambda s: s["spec"]["userInterface"]["pgAdmin"].update(passwordRotation=1), True),  # admin@pgrender's
        (lambda s: s["spec"]["userInterface"]["pgAdmin"].update(settings={"MAX_LOGIN_ATTEMPTS": 3}), True),
        (lambda s: s["spec"]["patroni"].update(parameters={"work_mem": "8MB"}), False),
    ],
)
def test_what_restarts_pgadmin(tmp_path: Path, change: Callable[[dict[str, Any]], None], restarts: bool) -> None:
    """start.py applies passwords and settings when the pod starts: their change must replace it."""
    before = with_pgadmin()
    before["spec"]["patroni"] = {}
    after = json.loads(json.dumps(before))
    change(after)
    old = pod(rendered(before, tmp_path, "old.yaml"))["metadata"]["annotations"]
    new = pod(rendered(after, tmp_path, "new.yaml"))["metadata"]["annotations"]
    assert (old != new) is restarts


def test_admin_password_rotation(tmp_path: Path) -> None:
    first = rendered(with_pgadmin(), tmp_path, "a.yaml")[("Secret", "hippo-pgadmin")]["data"]["password"]
    again = rendered(with_pgadmin(), tmp_path, "b.yaml")[("Secret", "hippo-pgadmin")]["data"]["password"]
    rotated = rendered(with_pgadmin(passwordRotation=1), tmp_path, "c.yaml")[("Secret", "hippo-pgadmin")]["data"]
    assert first == again != rotated["password"]
    assert len(base64.b64decode(first)) >= 20


@pytest.mark.parametrize(
    ("policy", "ingress"),
    [
        ({}, []),
        (
            {"allowFrom": [{"podSelector": {"matchLabels": {"app": "ingress-nginx"}}}]},
            [
                {
                    "from": [{"podSelector": {"matchLabels": {"app": "ingress-nginx"}}}],
                    "ports": [{"port": "pgadmin", "protocol": "TCP"}],
                }
            ],
        ),
    ],
)
def test_network_policy(tmp_path: Path, policy: dict[str, Any], ingress: list[dict[str, Any]]) -> None:
    objects = rendered(with_pgadmin(**policy), tmp_path)
    own = objects[("NetworkPolicy", "hippo-pgadmin")]["spec"]
    assert own["ingress"] == ingress
    labels = pod(objects)["metadata"]["labels"]
    assert labels | own["podSelector"]["matchLabels"] == labels  # it selects the pod
    members = objects[("NetworkPolicy", "hippo-database")]["spec"]["ingress"]
    admitted = [rule for rule in members if {"podSelector": own["podSelector"]} in rule["from"]]
    assert [rule["ports"] for rule in admitted] == [[{"port": "postgres", "protocol": "TCP"}]]


def test_no_policy_without_network_policies(tmp_path: Path) -> None:
    spec = with_pgadmin()
    spec["spec"]["networkPolicy"] = {"enabled": False}
    assert ("NetworkPolicy", "hippo-pgadmin") not in rendered(spec, tmp_path)


def test_zalando_names_the_servers_host(tmp_path: Path) -> None:
    spec = with_pgadmin()
    spec["spec"]["naming"] = "zalando"
    objects = rendered(spec, tmp_path)
    config = json.loads(config_map(objects)["pgadmin.json"])
    hosts = {server["Host"] for login in config["logins"] for server in login["servers"]}
    assert hosts == {"hippo.db.svc"}  # Zalando's primary Service is the cluster's name


def test_start_script_is_shipped() -> None:
    objects_text = Path(pgadmin_start.__file__).read_text()
    from pgrender.components.pgadmin import start_script

    assert start_script() == objects_text
    assert "import pgrender" not in objects_text and "from pgrender" not in objects_text


def test_start_script_helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """start.py's passwords (environment, file) and the servers file load-servers reads."""
    (tmp_path / "alice").write_text("s3cret-from-file")
    monkeypatch.setenv("PGADMIN_SETUP_PASSWORD", "s3cret-from-env")
    assert pgadmin_start.password_of({"passwordEnv": "PGADMIN_SETUP_PASSWORD"}) == "s3cret-from-env"
    assert pgadmin_start.password_of({"passwordFile": str(tmp_path / "alice")}) == "s3cret-from-file"
    servers = [{"Name": "hippo", "Group": "hippo"}, {"Name": "two", "Group": "hippo"}]
    path = Path(pgadmin_start.servers_file({"servers": servers}, str(tmp_path)))
    assert json.loads(path.read_text()) == {"Servers": {"1": servers[0], "2": servers[1]}}


def test_start_script_runs_without_pgrender(tmp_path: Path) -> None:
    """Its module level needs nothing but the standard library (pgAdmin's image has no pgrender)."""
    scope = runpy.run_path(str(Path(pgadmin_start.__file__)), run_name="not_main")
    assert scope["CONFIG"].name == "pgadmin.json"


def test_refuses_invalid_volume(write_spec: Callable[..., Path]) -> None:
    spec = with_pgadmin()
    del spec["spec"]["userInterface"]["pgAdmin"]["dataVolume"]
    with pytest.raises(SpecError) as exc:
        validate((str(write_spec(spec)),))
    assert [p.path for p in exc.value.problems] == ["spec.userInterface.pgAdmin.dataVolume"]


def test_stateful_set(tmp_path: Path) -> None:
    """One pod, in the wave after the reconcile Job (the users exist), its container as start.py expects."""
    objects = rendered(with_pgadmin(), tmp_path)
    workload = objects[("StatefulSet", "hippo-pgadmin")]
    assert (workload["spec"]["replicas"], workload["spec"]["serviceName"]) == (1, "hippo-pgadmin")
    (container,) = pod(objects)["spec"]["containers"]
    assert container["command"] == ["/venv/bin/python3", "/etc/pgadmin/start.py"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["PGADMIN_SETUP_PASSWORD"] == {"secretKeyRef": {"name": "hippo-pgadmin", "key": "password"}}
    assert (env["PGADMIN_DIR"], env["PGADMIN_LISTEN_PORT"], env["PGADMIN_SETUP_EMAIL"]) == (
        "/pgadmin4",
        "5050",
        "admin@pgrender",
    )
    waves = {
        key: int(o["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
        for key, o in objects.items()
        if key[0] == "Job"
    }
    assert int(workload["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) > max(waves.values())


def test_a_standby_clusters_users_log_in_too(tmp_path: Path) -> None:
    """A standby cluster's users keep their source's passwords (password_owner): they still get logins;
    pgrender.yaml's infrastructure roles, every cluster's, do not."""
    spec = yaml.safe_load((EXAMPLES / "standby.yaml").read_text())
    spec["spec"]["userInterface"] = {"pgAdmin": {"dataVolume": {"size": "1Gi"}}}
    objects = rendered(spec, tmp_path)
    config = json.loads(
        next(o for k, o in objects.items() if k[0] == "ConfigMap" and k[1].endswith("-pgadmin"))["data"]["pgadmin.json"]
    )
    users = [u["name"] for u in spec["spec"].get("users", [])] or [spec["metadata"]["name"]]
    assert [login["email"] for login in config["logins"]] == ["admin@pgrender", *(f"{u}@pgo" for u in users)]


def test_infrastructure_roles_get_no_login(tmp_path: Path) -> None:
    """pgrender.yaml's infrastructure roles (a tool's, in every cluster) are no person's: no pgAdmin login."""
    from tests.test_roles import INFRA_CONFIG, _render, _repository

    config = _repository(tmp_path, INFRA_CONFIG, with_pgadmin())
    config_map = next(
        o for o in _render(config) if (o["kind"], o["metadata"]["name"]) == ("ConfigMap", "hippo-pgadmin")
    )
    emails = [login["email"] for login in json.loads(config_map["data"]["pgadmin.json"])["logins"]]
    assert emails == ["admin@pgrender", "hippo@pgo", "alice@pgo"]  # not monitor@pgo


def test_no_secret_in_what_is_not_a_secret(tmp_path: Path, write_spec: Callable[..., Path]) -> None:
    """The ConfigMap (start.py, pgadmin.json, config_system.py) and the StatefulSet name where passwords
    are, never what they are."""
    from tests.conftest import GOLDEN_KEY, run_cli
    from tests.secret_scan import leaked, secret_strings

    out = tmp_path / "out"
    spec = with_pgadmin(secretSettings={"LDAP_BIND_PASSWORD": {"secretName": "ldap", "key": "password"}})
    result = run_cli("render", str(write_spec(spec)), "-o", str(out), "--key-file", str(GOLDEN_KEY))
    assert result.exit_code == 0, result.stderr
    secrets = secret_strings(out)
    assert secrets  # the admin's and the users' passwords, the keys
    for name in ("configmap-hippo-pgadmin.yaml", "statefulset-hippo-pgadmin.yaml"):
        assert not leaked((out / name).read_text(), secrets), name


def test_the_official_images_python_may_start(tmp_path: Path) -> None:
    """dpage/pgadmin4's python carries the file capability NET_BIND_SERVICE: with every capability
    dropped the kernel refuses to exec it, so the container keeps that one (restricted PSS allows it)
    and otherwise the restricted profile."""
    (container,) = pod(rendered(with_pgadmin(), tmp_path))["spec"]["containers"]
    context = container["securityContext"]
    assert context["capabilities"] == {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}
    assert (context["allowPrivilegeEscalation"], context["runAsNonRoot"], context["readOnlyRootFilesystem"]) == (
        False,
        True,
        True,
    )
