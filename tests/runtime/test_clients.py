"""Real clients connect with the rendered Secrets exactly as an application receives them.

The cluster is examples/pooled.yaml (pgBouncer in transaction mode, user shop with an access
Secret). The application is examples/apps/shop-deployment.yaml, run as a local pod whose command is
a small client program (tests/runtime/clients/): psycopg 3 (libpq), pgJDBC (Debian's
libpostgresql-jdbc-java, on the JRE's source launcher) and node-postgres (npm pg, `make clients`).
It gets the user Secret as the Deployment says: mounted at the cluster's secretMountPath, and as
environment variables (its env entries, plus envFrom of the whole Secret, the other way apps take a
Secret). Nothing in the strings changes: the Services' names resolve to stand-ins listening on the
Services' own ports (harness.localize, 8.).

Prepared statements through the transaction pool: pgBouncer before 1.21 cannot carry them, so the
spec says maxPreparedStatements: 0 (rendering "0"): pgbouncer-jdbc-uri carries prepareThreshold=0
and psycopg and node-postgres turn prepares off in code (README). The controls show that without
the workaround the same workload fails there (before pgBouncer 1.24, which tracks by default). With
pgBouncer 1.21 or later installed, the default rendering ("200", max_prepared_statements = 200)
runs too, and every client prepares freely.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from pgrender.plan.hosts import dns_forms
from tests.self_signed import self_signed

from .conftest import require_runtime
from .harness import (
    EXAMPLES,
    PREPARED_STATEMENTS_SINCE,
    HarnessError,
    LocalCluster,
    PgBouncer,
    Placement,
    PodFacts,
    Rendered,
    ServiceStandIn,
    local_spec,
    make_dir,
    pg_bin,
    pgbouncer_version,
    prepare_container,
    render_spec,
    running_cluster,
    service_stand_in,
)

pytestmark = pytest.mark.runtime

CLIENTS_DIR = Path(__file__).parent / "clients"
PGJDBC_JAR = Path("/usr/share/java/postgresql.jar")
DEPLOYMENT = EXAMPLES / "apps" / "shop-deployment.yaml"
MOUNT = "/etc/pgrender/pooled"  # examples/pooled.yaml's secretMountPath (the default)
USER_SECRET = "pooled-pguser-shop"
ACCESS_SECRET = "pooled-pgaccess-shop"

COMMANDS = {
    "psycopg": [sys.executable, str(CLIENTS_DIR / "psycopg_client.py")],
    "pgjdbc": ["java", "-cp", str(PGJDBC_JAR), str(CLIENTS_DIR / "PgJdbcClient.java")],
    "node": ["node", str(CLIENTS_DIR / "pg_client.mjs")],
}


def _version() -> tuple[int, int]:
    try:
        return pgbouncer_version()
    except (OSError, subprocess.SubprocessError, HarnessError):
        return (0, 0)  # no pgBouncer: the fixture reports what is missing


TRACKING = _version() >= PREPARED_STATEMENTS_SINCE  # the pgBouncer here can track prepared statements
PREPARED_FAILURE = r'prepared statement "[^"]+" (already exists|does not exist)'
# What a workload without the workarounds meets through the pgBouncer of rendering "0", which has no
# max_prepared_statements line: pgBouncer before 1.24 does not track (the controls fail); 1.24 and
# later track by default (200), so the same workload succeeds.
UNTRACKED = "ok" if _version() >= (1, 24) else PREPARED_FAILURE

# client, where the app reads its connection string (file: a key of the mount, env: a variable),
# workload, the rendering whose Secret the app gets and whose pgBouncer the pgBouncer Service
# reaches ("0": maxPreparedStatements 0, "200": the default), and "ok" or the error expected.
ROWS = [
    # client    source                                 workload               rendering expected
    ("psycopg", f"file:{MOUNT}/uri",                   "identity",            "0",   "ok"),
    ("psycopg", "env:DIRECT_DATABASE_URL",             "prepared",            "0",   "ok"),
    ("psycopg", "env:uri",                             "identity",            "0",   "ok"),
    ("psycopg", f"file:{MOUNT}/pgbouncer-uri",         "identity",            "0",   "ok"),
    ("psycopg", "env:DATABASE_URL",                    "prepared-workaround", "0",   "ok"),
    ("psycopg", "env:pgbouncer-uri",                   "prepared",            "0",   UNTRACKED),  # control
    ("pgjdbc",  f"file:{MOUNT}/jdbc-uri",              "identity",            "0",   "ok"),
    ("pgjdbc",  "env:DIRECT_JDBC_DATABASE_URL",        "prepared",            "0",   "ok"),
    ("pgjdbc",  "env:jdbc-uri",                        "identity",            "0",   "ok"),
    ("pgjdbc",  f"file:{MOUNT}/pgbouncer-jdbc-uri",    "identity",            "0",   "ok"),
    ("pgjdbc",  "env:JDBC_DATABASE_URL",               "prepared",            "0",   "ok"),  # prepareThreshold=0
    ("pgjdbc",  "env:JDBC_DATABASE_URL",               "prepared",            "200/0", UNTRACKED),  # control
    ("node",    f"file:{MOUNT}/uri",                   "identity",            "0",   "ok"),
    ("node",    "env:DIRECT_DATABASE_URL",             "prepared",            "0",   "ok"),
    ("node",    "env:uri",                             "identity",            "0",   "ok"),
    ("node",    f"file:{MOUNT}/pgbouncer-uri",         "identity",            "0",   "ok"),
    ("node",    "env:DATABASE_URL",                    "prepared-workaround", "0",   "ok"),
    ("node",    "env:pgbouncer-uri",                   "prepared",            "0",   UNTRACKED),  # control
]  # fmt: skip
# With a pgBouncer that tracks prepared statements, the default rendering: no workaround anywhere.
SERVER_SIDE = [
    ("psycopg", "env:DATABASE_URL",                    "prepared",            "200", "ok"),
    ("pgjdbc",  "env:JDBC_DATABASE_URL",               "prepared",            "200", "ok"),
    ("node",    "env:DATABASE_URL",                    "prepared",            "200", "ok"),
]  # fmt: skip

# The checks verify-full makes: a CA that did not sign the server's certificate, and a host name the
# certificate does not carry, are refused by every client, directly and through pgBouncer.
REFUSALS = [
    # client    key                   change         error
    ("psycopg", "uri",                "foreign-ca",  r"certificate verify failed"),
    ("psycopg", "pgbouncer-uri",      "other-host",  r"does not match host name"),
    ("pgjdbc",  "pgbouncer-jdbc-uri", "foreign-ca",  r"PKIX path|SSL error"),
    ("pgjdbc",  "jdbc-uri",           "other-host",  r"could not be verified"),
    ("node",    "pgbouncer-uri",      "foreign-ca",  r"self[- ]signed certificate|unable to (get local issuer|verify)"),
    ("node",    "uri",                "other-host",  r"does not match certificate's altnames"),
]  # fmt: skip


def missing_client_requirements() -> list[str]:
    missing = []
    if shutil.which("java") is None:
        missing.append("java (Debian package default-jre-headless)")
    if not PGJDBC_JAR.exists():
        missing.append(f"{PGJDBC_JAR} (Debian package libpostgresql-jdbc-java)")
    if shutil.which("node") is None:
        missing.append("node (Debian package nodejs)")
    if not (CLIENTS_DIR / "node_modules" / "pg" / "package.json").exists():
        missing.append(f"node-postgres in {CLIENTS_DIR / 'node_modules'} (make clients)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing.append("psycopg (pip install -e '.[test]')")
    return missing


@dataclass
class Shop:
    """The running cluster, its pgBouncers and the Services' stand-ins an application reaches."""

    cluster: LocalCluster
    renderings: dict[str, Rendered]
    services: dict[str, ServiceStandIn]  # "primary", "pgbouncer-0", "pgbouncer-200"
    root: Path
    counter: Iterator[int] = field(default_factory=itertools.count)


@pytest.fixture(scope="module")
def shop(runtime_root: Path) -> Iterator[Shop]:
    require_runtime(missing_client_requirements())
    base = local_spec("pooled")
    renderings = {}
    for variant in ("0", "200"):
        spec = copy.deepcopy(base)
        pgbouncer_spec = spec["spec"]["proxy"]["pgBouncer"]
        pgbouncer_spec.pop("maxPreparedStatements", None)  # local_spec's 0 for an older pgBouncer
        if variant == "0":
            pgbouncer_spec["maxPreparedStatements"] = 0
        renderings[variant] = render_spec(spec, runtime_root / "specs" / f"clients-{variant}")
    root = make_dir(runtime_root / "clients")
    rendered = renderings["0"]
    with running_cluster(rendered, root / "cluster") as cluster:
        cluster.wait_healthy()
        job = cluster.run_job(root / "job")
        assert job.returncode == 0, job.stderr

        def leader_port() -> int:
            leader = cluster.leader()
            if leader is None:
                raise HarnessError("no leader")
            return leader.pg_port

        bouncers = {"0": PgBouncer(rendered, root / "pgbouncer-0", leader_port())}
        if TRACKING:
            bouncers["200"] = PgBouncer(renderings["200"], root / "pgbouncer-200", leader_port())
        ports = {
            s["metadata"]["name"]: s["spec"]["ports"][0]["port"]
            for s in rendered.all("Service")
            if s["spec"].get("ports")
        }
        try:
            for bouncer in bouncers.values():
                bouncer.start()
            with (
                service_stand_in("pooled-primary", ports["pooled-primary"], leader_port) as primary,
                service_stand_in("pooled-pgbouncer", ports["pooled-pgbouncer"], lambda: bouncers["0"].port) as b0,
                service_stand_in(
                    "pooled-pgbouncer", ports["pooled-pgbouncer"], lambda: bouncers["200" if TRACKING else "0"].port
                ) as b200,
            ):
                yield Shop(cluster, renderings, {"primary": primary, "pgbouncer-0": b0, "pgbouncer-200": b200}, root)
        finally:
            for bouncer in bouncers.values():
                bouncer.stop()


def deployment() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DEPLOYMENT.read_text())
    return loaded


def run_app(
    shop: Shop,
    command: list[str],
    *,
    rendering: str = "0",
    secret_from: str | None = None,
    extra_env: Mapping[str, str] | None = None,
    extra_hosts: Mapping[str, str] | None = None,
    resolve_primary: bool = True,
    container: Mapping[str, Any] | None = None,
    volumes: list[dict[str, Any]] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` as the container of examples/apps/shop-deployment.yaml, in a fresh pod.

    The pod sees the Secrets of ``secret_from`` (default: ``rendering``), and its pgBouncer Service
    reaches the pgBouncer of ``rendering``. ``container`` replaces the example's container (but
    its name and command) and ``volumes`` the pod's volumes; ``extra_env`` adds env entries and
    ``extra_hosts`` names resolving to the stand-in of "primary" or "pgbouncer".
    """
    workload = deployment()
    spec = workload["spec"]["template"]["spec"]
    app = dict(container) if container is not None else spec["containers"][0]
    app = {**app, "name": "app", "command": command}
    if container is None:
        # The other way an application takes a Secret: every key as a variable (jdbc-uri, ...).
        app["envFrom"] = [*app.get("envFrom", []), {"secretRef": {"name": USER_SECRET}}]
    app["env"] = [*app.get("env", []), *({"name": k, "value": v} for k, v in (extra_env or {}).items())]
    spec["containers"] = [app]
    if volumes is not None:
        spec["volumes"] = volumes
    rendered = shop.renderings[secret_from or rendering]
    namespace = rendered.namespace
    services: dict[str, str] = {}
    stand_ins = {"primary": shop.services["primary"], "pgbouncer": shop.services[f"pgbouncer-{rendering}"]}
    if resolve_primary:
        services |= dict.fromkeys(dns_forms("pooled-primary", namespace, "cluster.local"), stand_ins["primary"].address)
    services |= dict.fromkeys(dns_forms("pooled-pgbouncer", namespace, "cluster.local"), stand_ins["pgbouncer"].address)
    services |= {host: stand_ins[which].address for host, which in (extra_hosts or {}).items()}
    bound = [m["mountPath"] for m in app.get("volumeMounts", [])]
    prepared = prepare_container(
        rendered,
        workload,
        "app",
        shop.root / f"app-{next(shop.counter)}",
        Placement({}, 0, services=services),
        pod=PodFacts("shop-local", namespace),
        bound=bound,
    )
    return prepared.run_once(timeout=120)


def check(result: subprocess.CompletedProcess[str], expected: str, workload: str) -> dict[str, Any]:
    """The client's JSON when ``expected`` is "ok"; else that it failed with ``expected`` (a regex)."""
    if expected != "ok":
        assert result.returncode != 0, f"expected a failure matching {expected!r}, got {result.stdout}"
        assert re.search(expected, result.stderr), result.stderr
        return {}
    assert result.returncode == 0, result.stderr + result.stdout
    output: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    if workload == "identity":
        assert (output["user"], output["database"], output["server_ssl"]) == ("shop", "shop", True), output
        assert output.get("client_ssl", True) is True
    else:
        assert output["executions"] == 24, output
    return output


def row_id(row: tuple[str, ...]) -> str:
    client, source, workload, rendering, expected = row
    outcome = "ok" if expected == "ok" else "fails"
    kind, _, name = source.partition(":")
    return f"{client}-{kind}:{name.rsplit('/', 1)[-1]}-{workload}-{rendering}-{outcome}"


@pytest.mark.parametrize(
    ("client", "source", "workload", "rendering", "expected"),
    [pytest.param(*row, id=row_id(row)) for row in ROWS + (SERVER_SIDE if TRACKING else [])],
)
def test_client(shop: Shop, client: str, source: str, workload: str, rendering: str, expected: str) -> None:
    # "200/0": the default rendering's Secret (no prepareThreshold=0) against the pgBouncer of "0".
    secret_from, _, bouncer = rendering.partition("/")
    result = run_app(
        shop, [*COMMANDS[client], source, workload], rendering=bouncer or secret_from, secret_from=secret_from
    )
    check(result, expected, workload)


def foreign_ca() -> bytes:
    """A CA certificate that signed nothing of the cluster's."""
    return self_signed("pooled-ca", ca=True)[0]  # the same name as the real CA's


@pytest.mark.parametrize(
    ("client", "key", "change", "error"), [pytest.param(*row, id="-".join(row[:3])) for row in REFUSALS]
)
def test_verify_full_refuses(shop: Shop, client: str, key: str, change: str, error: str) -> None:
    rendered = shop.renderings["0"]
    value = rendered.secret(USER_SECRET)[key].decode()
    if change == "foreign-ca":
        secret = copy.deepcopy(rendered.get("Secret", USER_SECRET))
        secret["data"]["ca.crt"] = base64.b64encode(foreign_ca()).decode()
        objects = tuple(secret if o is rendered.get("Secret", USER_SECRET) else o for o in rendered.objects)
        saved = shop.renderings["foreign"] = replace(rendered, objects=objects)
        assert saved.secret(USER_SECRET)["ca.crt"] != rendered.secret(USER_SECRET)["ca.crt"]
        result = run_app(shop, [*COMMANDS[client], f"file:{MOUNT}/{key}", "identity"], secret_from="foreign")
    else:
        host = "pooled-pgbouncer.apps.svc" if key.startswith("pgbouncer-") else "pooled-primary.apps.svc"
        other = value.replace(host, "impostor.apps.svc")
        assert other != value
        result = run_app(
            shop,
            [*COMMANDS[client], "env:OTHER_URL", "identity"],
            extra_env={"OTHER_URL": other},
            extra_hosts={"impostor.apps.svc": "pgbouncer" if key.startswith("pgbouncer-") else "primary"},
        )
    check(result, error, "identity")


def access_container(*, extra_env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A container that takes only the access Secret: every key as a variable (envFrom), and the
    Secret mounted at secretMountPath, where PGSSLROOTCERT points."""
    return {
        "image": "registry.example.com/psql",
        "envFrom": [{"secretRef": {"name": ACCESS_SECRET}}],
        "env": [{"name": k, "value": v} for k, v in (extra_env or {}).items()],
        "volumeMounts": [{"name": "access", "mountPath": MOUNT, "readOnly": True}],
    }


# Clients given only the access Secret's environment (envFrom, no connection string): libpq reads
# PGSSLROOTCERT; node-postgres does not (PGSSLMODE=verify-full makes it check against Node's own CA
# list) unless NODE_EXTRA_CA_CERTS names the CA.
ACCESS_ROWS = [
    # client    extra environment                           expected
    ("psycopg", {},                                          "ok"),
    ("node",    {},                                          r"self[- ]signed certificate"),
    ("node",    {"NODE_EXTRA_CA_CERTS": f"{MOUNT}/ca.crt"},  "ok"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("client", "extra", "expected"),
    [pytest.param(*row, id=f"{row[0]}-{'-'.join(row[1]) or 'as-is'}") for row in ACCESS_ROWS],
)
def test_access_secret_environment(shop: Shop, client: str, extra: dict[str, str], expected: str) -> None:
    volumes = [{"name": "access", "secret": {"secretName": ACCESS_SECRET}}]
    app = access_container(extra_env=extra)
    result = run_app(shop, [*COMMANDS[client], "none", "identity"], container=app, volumes=volumes)
    check(result, expected, "identity")


def psql(sql: str) -> list[str]:
    return [pg_bin("psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]


@pytest.mark.parametrize("where", ["in-cluster", "port-forward"])
def test_access_secret_environment_runs_psql(shop: Shop, where: str) -> None:
    """psql with exactly the access Secret's environment, verify-full: in a pod (the Service's name
    resolves), and as after ``kubectl port-forward svc/$USER_ACCESS 5432`` (it does not: PGHOSTADDR
    says where the forwarded port listens, PGHOST still names the server for verify-full)."""
    access = shop.renderings["0"].secret(ACCESS_SECRET)
    assert access["USER_ACCESS"].decode() == "pooled-primary"
    workload_env = {}
    if where == "port-forward":
        workload_env = {"PGHOSTADDR": shop.services["primary"].address}
    app = access_container(extra_env=workload_env)
    sql = "SELECT current_user, current_database(), ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
    volumes = [{"name": "access", "secret": {"secretName": ACCESS_SECRET}}]
    result = run_app(shop, psql(sql), container=app, volumes=volumes, resolve_primary=where == "in-cluster")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "shop|shop|t"


def test_the_default_rendering_on_this_pgbouncer(shop: Shop, runtime_root: Path) -> None:
    """The default rendering (max_prepared_statements = 200) needs pgBouncer 1.21: an older one
    refuses to start with it, which is why such an image needs maxPreparedStatements: 0."""
    ini = shop.renderings["200"].config_map("pooled-pgbouncer")["pgbouncer.ini"]
    assert "max_prepared_statements = 200" in ini
    assert "max_prepared_statements" not in shop.renderings["0"].config_map("pooled-pgbouncer")["pgbouncer.ini"]
    assert "prepareThreshold=0" in shop.renderings["0"].secret(USER_SECRET)["pgbouncer-jdbc-uri"].decode()
    assert "prepareThreshold" not in shop.renderings["200"].secret(USER_SECRET)["pgbouncer-jdbc-uri"].decode()
    if TRACKING:
        return  # the fixture started it; SERVER_SIDE ran the clients through it
    leader = shop.cluster.leader()
    assert leader is not None
    bouncer = PgBouncer(shop.renderings["200"], runtime_root / "clients" / "pgbouncer-old", leader.pg_port)
    with pytest.raises(HarnessError) as refused:
        try:
            bouncer.start()
        finally:
            bouncer.stop()
    assert "max_prepared_statements" in str(refused.value)
