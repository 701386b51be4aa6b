"""pgbouncer: objects, pgbouncer.ini, TLS on both sides, user Secret keys, the auth function."""

from __future__ import annotations

import base64
import configparser
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509

from pgrender.components.pgbouncer import pgbouncer
from pgrender.components.reconcile import reconcile
from pgrender.components.services import services
from pgrender.errors import SpecError
from pgrender.plan import ClusterPlan
from pgrender.plans import validate
from pgrender.secrets import Material, Quoting, SecretInput, user_password
from tests.conftest import base_spec, find


def pooled(**pgbouncer_spec: Any) -> dict[str, Any]:
    spec = base_spec()
    spec["spec"]["proxy"] = {"pgBouncer": pgbouncer_spec}
    return spec


def ini(plan: ClusterPlan) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(find(pgbouncer(plan), "ConfigMap", "hippo-pgbouncer")["data"]["pgbouncer.ini"])
    return parser


def test_off_by_default(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    assert pgbouncer(plan_of(base_spec())) == []


def test_objects(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    plan = plan_of(pooled(replicas=2))
    objects = pgbouncer(plan)
    assert sorted((o["kind"], o["metadata"]["name"]) for o in objects) == [
        ("ConfigMap", "hippo-pgbouncer"),
        ("Deployment", "hippo-pgbouncer"),
        ("PodDisruptionBudget", "hippo-pgbouncer"),
        ("Secret", "hippo-pgbouncer"),
    ]
    service = find(services(plan), "Service", "hippo-pgbouncer")
    assert service["spec"]["selector"] == {"pgrender.io/cluster": "hippo", "app.kubernetes.io/component": "pgbouncer"}
    assert service["spec"]["ports"] == [
        {"name": "pgbouncer", "port": 5432, "protocol": "TCP", "targetPort": "pgbouncer"}
    ]
    deployment = find(objects, "Deployment", "hippo-pgbouncer")
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["tcpSocket"] == {"port": "pgbouncer"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert not [o for o in pgbouncer(plan_of(pooled())) if o["kind"] == "PodDisruptionBudget"]


def test_ini(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    cfg = ini(plan_of(pooled(poolMode="transaction", config={"global": {"server_idle_timeout": 60}})))
    assert cfg["databases"]["*"] == "host=hippo-primary.db.svc port=5432"
    main = cfg["pgbouncer"]
    assert (main["pool_mode"], main["client_tls_sslmode"], main["server_tls_sslmode"]) == (
        "transaction",
        "require",
        "verify-full",
    )
    assert main["auth_user"] == "_pgrender_pgbouncer"
    assert main["auth_query"] == "SELECT username, password FROM pgbouncer.get_auth($1)"
    assert main["server_idle_timeout"] == "60"
    assert ini(plan_of(pooled()))["pgbouncer"]["pool_mode"] == "session"


def test_frontend_certificate(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    data = find(objects_of(pooled()), "Secret", "hippo-pgbouncer")["data"]
    cert = x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert names == [
        "hippo-pgbouncer.db.svc.cluster.local",
        "hippo-pgbouncer.db.svc",
        "hippo-pgbouncer.db",
        "hippo-pgbouncer",
    ]
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(base64.b64decode(data["ca.crt"])))
    users = base64.b64decode(data["users.txt"]).decode()
    password = base64.b64decode(data["password"]).decode()
    assert users == f'"_pgrender_pgbouncer" "{password}"\n'


# (pool mode, maxPreparedStatements or None for the default) -> (max_prepared_statements in the ini,
# prepareThreshold=0 in pgbouncer-jdbc-uri)
PREPARED = [
    ("transaction", None, "200", False),
    ("statement", None, "200", False),
    ("transaction", 50, "50", False),
    ("transaction", 0, None, True),  # pgBouncer before 1.21: the setting left out, pgJDBC's workaround
    ("statement", 0, None, True),
    ("session", None, None, False),  # a session pool keeps a client on one server connection
    ("session", 0, None, False),
]


@pytest.mark.parametrize(("mode", "limit", "setting", "workaround"), PREPARED)
def test_prepared_statements(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]],
    mode: str,
    limit: int | None,
    setting: str | None,
    workaround: bool,
) -> None:
    spec = pooled(poolMode=mode) if limit is None else pooled(poolMode=mode, maxPreparedStatements=limit)
    objects = objects_of(spec)
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(find(objects, "ConfigMap", "hippo-pgbouncer")["data"]["pgbouncer.ini"])
    assert parser["pgbouncer"].get("max_prepared_statements") == setting
    data = find(objects, "Secret", "hippo-pguser-hippo")["data"]
    text = {k: base64.b64decode(v).decode() for k, v in data.items()}
    assert text["pgbouncer-host"] == "hippo-pgbouncer.db.svc" and text["pgbouncer-port"] == "5432"
    assert text["pgbouncer-uri"].endswith(
        "@hippo-pgbouncer.db.svc:5432/hippo?sslmode=verify-full&sslrootcert=/etc/pgrender/hippo/ca.crt"
    )
    assert ("prepareThreshold=0" in text["pgbouncer-jdbc-uri"]) is workaround
    assert "prepareThreshold" not in text["jdbc-uri"]


def test_max_prepared_statements_has_its_own_field(write_spec: Callable[..., Any]) -> None:
    with pytest.raises(SpecError) as exc:
        validate((str(write_spec(pooled(config={"global": {"max_prepared_statements": 10}}))),))
    (problem,) = exc.value.problems
    assert problem.path == "spec.proxy.pgBouncer.config.global"
    assert "'max_prepared_statements'" in problem.message
    with pytest.raises(SpecError):
        validate((str(write_spec(pooled(maxPreparedStatements=-1))),))


def test_reconcile_creates_auth_user_and_function(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    config_map, job = reconcile(plan_of(pooled()))
    sql = config_map["data"]["reconcile.sql"]
    assert "-- role _pgrender_pgbouncer" in sql
    assert "ALTER ROLE %I WITH NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT LOGIN" in sql
    assert [line for line in sql.splitlines() if line.startswith("\\connect")] == [
        "\\connect postgres",
        "\\connect hippo",
    ]
    assert sql.count("SECURITY DEFINER") == 2 and "AND NOT rolsuper" in sql and "AND NOT rolreplication" in sql
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["PGRENDER_PGBOUNCER_VERIFIER"]["valueFrom"]["secretKeyRef"] == {
        "name": "hippo-pgbouncer",
        "key": "verifier",
    }
    assert "\\set verifier_pgbouncer `printenv PGRENDER_PGBOUNCER_VERIFIER`\n" in config_map["data"]["reconcile.sql"]


def ini_text(plan: ClusterPlan) -> str:
    text: str = find(pgbouncer(plan), "ConfigMap", "hippo-pgbouncer")["data"]["pgbouncer.ini"]
    return text


USERS = [
    {"name": "app"},
    {"name": "reports", "passwordRotation": 2},
    {"name": "admin", "options": {"superuser": True}},
    {"name": "repl", "options": {"replication": True}},
    {"name": "group", "options": {"login": False}},
]


def test_databases_and_users_sections(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    config = {
        "databases": {"shop_ro": "dbname=shop  pool_size=5 pool_mode=session", "b.alias": "", "a": "timezone=UTC"},
        "users": {"reports": "pool_mode=session max_user_connections=10"},
    }
    spec = pooled(config=config)
    spec["spec"]["users"] = USERS
    plan = plan_of(spec)
    text = ini_text(plan)
    server = "host=hippo-primary.db.svc port=5432"
    databases = text.split("[databases]\n")[1].split("\n\n")[0].splitlines()
    assert databases == [
        f"a = {server} timezone=UTC",
        f"b.alias = {server}",
        f"shop_ro = {server} dbname=shop pool_size=5 pool_mode=session",
        f"* = {server}",  # the wildcard last: pgBouncer takes an exact name first anyway, readers too
    ]
    assert text.endswith("\n[users]\nreports = pool_mode=session max_user_connections=10\n")
    assert ini(plan)["users"]["reports"] == "pool_mode=session max_user_connections=10"
    assert "[users]" not in ini_text(plan_of(pooled()))
    # pgBouncer takes the password of a user in [users] from its auth file: the user's own (same rotation).
    auth_file = find(pgbouncer(plan), "Secret", "hippo-pgbouncer")["data"]["users.txt"]
    assert [p for p in auth_file.parts if not isinstance(p, str)] == [
        SecretInput(Material.PASSWORD, "pgbouncer-auth", quoting=Quoting.AUTH_FILE),
        user_password("reports", 2, quoting=Quoting.AUTH_FILE),
    ]
    assert "".join(p for p in auth_file.parts if isinstance(p, str)) == '"_pgrender_pgbouncer" ""\n"reports" ""\n'


@pytest.mark.parametrize(
    ("section", "name", "value", "says"),
    [
        ("databases", "ext", "host=other.example.com", "host: not allowed (an entry reaches this cluster's primary"),
        ("databases", "ext", "port=6432", "port: not allowed"),
        ("databases", "forced", "user=app", "user: not allowed"),
        ("databases", "pw", "password=secret", "password: not allowed (a password does not belong in a ConfigMap"),
        ("databases", "a", "auth_user=x", "auth_user: not allowed"),
        ("databases", "a", "connect_query=SELECT", "connect_query: not allowed"),
        ("databases", "a", "pool_size=lots", "pool_size=lots: expected a number"),
        ("databases", "a", "pool_mode=pooled", "pool_mode=pooled: expected one of session, transaction, statement"),
        ("databases", "a", "dbname='shop'", "dbname: expected one word"),
        ("databases", "a", "dbname=shop dbname=app", "dbname is given twice"),
        ("databases", "a", "poolsize=3", "'poolsize': expected key=value with a key of dbname, pool_size"),
        ("databases", "a", "passwd=hunter2", "'passwd': expected key=value"),
        ("databases", "a", "dbname", "'dbname': expected key=value"),
        ("databases", "a", "dbname=x;y", "dbname: expected one word"),
        ("databases", "a", "dbname=x\n[pgbouncer]", "'[pgbouncer]': expected key=value"),
        ("databases", "pgbouncer", "dbname=x", "'pgbouncer' cannot name a pgBouncer database here"),
        ("databases", "*", "dbname=x", "'*' cannot name a pgBouncer database here"),
        ("databases", "a b", "dbname=x", "'a b' cannot name a pgBouncer database here"),
        ("users", "app", "pool_size=3", "expected key=value with a key of pool_mode, max_user_connections"),
        ("users", "app", "", "expected settings"),
        ("users", "_pgrender_pgbouncer", "pool_mode=session", "not one of spec.users: pgBouncer takes the password"),
        ("users", "nobody", "pool_mode=session", "not one of spec.users"),
        ("users", "admin", "pool_mode=session", "not a user pgBouncer lets in"),
        ("users", "repl", "pool_mode=session", "not a user pgBouncer lets in"),
        ("users", "group", "pool_mode=session", "not a user pgBouncer lets in"),
        ("users", "app", "max_user_connections=-1", "max_user_connections=-1: expected a number"),
    ],
)  # fmt: skip
def test_databases_and_users_refused(
    write_spec: Callable[..., Any], section: str, name: str, value: str, says: str
) -> None:
    spec = pooled(config={section: {name: value}})
    spec["spec"]["users"] = USERS
    with pytest.raises(SpecError) as exc:
        validate((str(write_spec(spec)),))
    (problem,) = exc.value.problems
    assert problem.path == f"spec.proxy.pgBouncer.config.{section}.{name}"
    assert says in problem.message
    assert "hunter2" not in problem.message


# The replicas' pgBouncer (spec.proxy.pgBouncerReplicas) ------------------------------------------


def read_pooled(naming: str = "pgo", **replicas_spec: Any) -> dict[str, Any]:
    spec = base_spec()
    spec["spec"]["naming"] = naming
    spec["spec"]["proxy"] = {"pgBouncer": {}, "pgBouncerReplicas": replicas_spec}
    return spec


# naming -> (the replicas' pgBouncer's Deployment, ConfigMap, Secret, PDB and Service; the replicas
# Service its [databases] reach; the primary's pgBouncer beside it)
REPLICA_NAMES = [
    ("pgo", "hippo-pgbouncer-replicas", "hippo-replicas.db.svc", "hippo-pgbouncer"),
    ("zalando", "hippo-pooler-repl", "hippo-repl.db.svc", "hippo-pooler"),  # Zalando's replica pooler
    ("cnpg", "hippo-pooler-ro", "hippo-ro.db.svc", "hippo-pooler-rw"),  # CloudNativePG's Pooler of type ro
    ("pgd", "hippo-pgbouncer-replicas", "hippo-proxy-r.db.svc", "hippo-pgbouncer"),
]


@pytest.mark.parametrize(("naming", "name", "server", "primary"), REPLICA_NAMES)
def test_replicas_pgbouncer_per_profile(
    plan_of: Callable[[dict[str, Any]], ClusterPlan], naming: str, name: str, server: str, primary: str
) -> None:
    plan = plan_of(read_pooled(naming, replicas=2))
    objects = pgbouncer(plan)
    assert sorted(o["kind"] for o in objects if o["metadata"]["name"] == name) == [
        "ConfigMap",
        "Deployment",
        "PodDisruptionBudget",
        "Secret",
    ]
    selector = {"pgrender.io/cluster": "hippo", "app.kubernetes.io/component": "pgbouncer-replicas"}
    assert find(services(plan), "Service", name)["spec"]["selector"] == selector
    assert find(objects, "Deployment", name)["spec"]["selector"]["matchLabels"] == selector
    assert find(services(plan), "Service", primary)["spec"]["selector"]["app.kubernetes.io/component"] == "pgbouncer"
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(find(objects, "ConfigMap", name)["data"]["pgbouncer.ini"])
    # every server connection read-only, also after a session's reset (tests/runtime/test_pgbouncer.py)
    read_only = "SET default_transaction_read_only = on"
    assert parser["databases"]["*"] == f"host={server} port=5432 connect_query='{read_only}'"
    assert parser["pgbouncer"]["server_reset_query"].endswith(f"DISCARD SEQUENCES; {read_only}")
    primary_ini = configparser.ConfigParser(interpolation=None)
    primary_ini.read_string(find(objects, "ConfigMap", primary)["data"]["pgbouncer.ini"])
    assert "connect_query" not in primary_ini["databases"]["*"]
    assert "server_reset_query" not in primary_ini["pgbouncer"]
    assert parser["pgbouncer"]["server_tls_sslmode"] == "verify-full"
    assert parser["pgbouncer"]["auth_user"] == "_pgrender_pgbouncer"  # the one auth user of both
    assert [p.name for p in plan.network_policies if "pgbouncer" in p.name] == [
        "hippo-pgbouncer",
        "hippo-pgbouncer-replicas",
    ]


R = "spec.proxy.pgBouncerReplicas"
# (spec changes, pgBouncerReplicas' fields) -> (the problem's path, what it says)
REPLICAS_REFUSED = [
    ({"replicaService": {"enabled": False}}, {}, R, "Service hippo-replicas, which spec.replicaService.enabled: false"),
    ({}, {"port": 8008}, f"{R}.port", "port 8008 is Patroni's REST API port"),
    ({"openshift": True}, {"runAsUser": 1000}, f"{R}.runAsUser", "OpenShift's SCC assigns runAsUser"),
    ({}, {"config": {"databases": {"x": "host=elsewhere"}}}, f"{R}.config.databases.x", "host: not allowed"),
    ({}, {"config": {"users": {"nobody": "pool_mode=session"}}}, f"{R}.config.users.nobody", "not one of spec.users"),
    ({}, {"config": {"global": {"listen_port": 1}}}, f"{R}.config.global", "not pgBouncer settings pgrender passes"),
    ({}, {"sidecars": [{"name": "pgbouncer", "image": "x:1"}]}, f"{R}.sidecars[0].name", "pgbouncer"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "fields", "path", "says"), REPLICAS_REFUSED)
def test_replicas_pgbouncer_refused(
    write_spec: Callable[..., Any], changes: dict[str, Any], fields: dict[str, Any], path: str, says: str
) -> None:
    spec = read_pooled(**fields)
    spec["spec"].update(changes)
    with pytest.raises(SpecError) as exc:
        validate((str(write_spec(spec)),))
    assert [(p.path, says in p.message) for p in exc.value.problems] == [(path, True)]


def test_replicas_pgbouncer_alone_shares_the_auth_user(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    """Without the primary's pgBouncer, the reconcile Job still makes the auth user and get_auth(), and
    reads its password from the replicas' pgBouncer's Secret; the user Secrets get no pgbouncer-* keys
    (no operator's Secrets have keys for a replica pooler: README, "Connecting an application")."""
    spec = base_spec()
    spec["spec"]["proxy"] = {"pgBouncerReplicas": {}}
    plan = plan_of(spec)
    assert (plan.pgbouncer, [p.name for p in plan.poolers]) == (None, ["hippo-pgbouncer-replicas"])
    text = str(reconcile(plan))
    assert "CREATE OR REPLACE FUNCTION pgbouncer.get_auth" in text and "_pgrender_pgbouncer" in text
    assert "'name': 'hippo-pgbouncer-replicas', 'key': 'verifier'" in text
    assert all(u.pgbouncer is None for u in plan.users)


@pytest.mark.parametrize(
    ("members", "proxy", "warned"),
    [
        (1, {"pgBouncerReplicas": {}}, True),  # no replica for its Service to select
        (2, {"pgBouncerReplicas": {}}, False),
        (1, {"pgBouncer": {}}, False),
    ],
)
def test_a_replicas_pooler_without_replicas_is_warned_about(
    plan_of: Callable[[dict[str, Any]], ClusterPlan], members: int, proxy: dict[str, Any], warned: bool
) -> None:
    spec = base_spec()
    spec["spec"]["instances"][0]["replicas"] = members
    spec["spec"]["proxy"] = proxy
    found = [w for w in plan_of(spec).warnings if "selects no pod" in w.message]
    assert [w.path for w in found] == (["spec.proxy.pgBouncerReplicas"] if warned else [])
