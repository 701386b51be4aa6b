"""pgAdmin 4 (spec.userInterface.pgAdmin) as rendered, with a person's clicks made over its HTTP API.

The cluster is examples/hippo.yaml with pgAdmin and two database users, hippo and rhino. Its pgAdmin
pod runs beside the members like any other pod of the cluster (harness.LocalCluster): the rendered
start.py and config_system.py, the rendered volumes at their in-pod paths, the image's pgAdmin and
gunicorn from the virtualenv of `make clients` (harness.localize, 14.), and the primary Service its
servers name reaching the leader through a stand-in. tests/runtime/pgadmin_client.py logs in and
connects as pgAdmin's own web client does:

* the Administrator, admin@pgrender, logs in with the password of Secret <c>-pgadmin;
* each database user logs in as <user>@pgo with its database password (its user Secret's), finds its
  server, and pgAdmin connects it to the primary (verify-full against the rendered CA, which pgAdmin
  reads from its shared storage) and lists its database; a wrong password is refused, by pgAdmin's
  login and by PostgreSQL;
* a rotated database password (passwordRotation) reaches pgAdmin when its pod restarts: applying the
  new rendering rolls the pod (its template's secrets digest changed), and the new password logs in
  where the old one no longer does; pgAdmin's claim is the same disk before and after.
"""

from __future__ import annotations

import base64
import copy
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import require_runtime
from .harness import (
    PGADMIN_VENV,
    LocalCluster,
    Rendered,
    local_spec,
    missing_pgadmin_requirements,
    render_spec,
    running_cluster,
    wait_until,
)
from .pgadmin_client import PgAdmin, Server

pytestmark = pytest.mark.runtime

CLUSTER = "hippo"
POD = "hippo-pgadmin-0"
# user -> its database (the first it lists: the server's maintenance database)
USERS = {"hippo": "hippo", "rhino": "zoo"}
ADMIN = "admin@pgrender"
# secretSettings: pgAdmin's login banner, from a Secret of the cluster's namespace (shown on the login page).
BANNER_SECRET = "pgadmin-banner"
BANNER = "<h4>Authorised users of the hippo team only</h4>"


def pgadmin_spec() -> dict[str, Any]:
    spec = local_spec(CLUSTER)
    spec["spec"]["users"] = [{"name": user, "databases": [database]} for user, database in USERS.items()]
    spec["spec"]["userInterface"] = {
        "pgAdmin": {
            "dataVolume": {"size": "1Gi"},
            "settings": {"AUTHENTICATION_SOURCES": ["internal"]},  # a list, as pgAdmin's config.py has it
            "secretSettings": {"LOGIN_BANNER": {"secretName": BANNER_SECRET, "key": "banner"}},
        }
    }
    return spec


def banner_secret(namespace: str) -> dict[str, Any]:
    """The Secret a person makes for secretSettings (pgrender derives no value of it)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": BANNER_SECRET, "namespace": namespace},
        "data": {"banner": base64.b64encode(BANNER.encode()).decode()},
    }


def password(rendered: Rendered, user: str) -> str:
    return rendered.secret(f"{rendered.name}-pguser-{user}")["password"].decode()


def admin_password(rendered: Rendered) -> str:
    return rendered.secret(f"{rendered.name}-pgadmin")["password"].decode()


@pytest.fixture(scope="module")
def cluster(runtime_root: Path) -> Iterator[LocalCluster]:
    """hippo with pgAdmin, up, its roles and databases made by the reconcile Job, pgAdmin answering."""
    require_runtime(missing_pgadmin_requirements())
    rendered = render_spec(pgadmin_spec(), runtime_root / "specs" / "pgadmin")
    rendered = rendered.with_objects(banner_secret(rendered.namespace))
    with running_cluster(rendered, runtime_root / "pgadmin") as local:
        job = local.run_job(runtime_root / "pgadmin" / "job")
        assert job.returncode == 0, job.stdout + job.stderr
        started = time.monotonic()
        local.wait_pgadmin()  # it started beside the members
        print(f"pgAdmin answered {time.monotonic() - started:.1f}s after the cluster was up and reconciled")
        yield local


def test_the_rendered_pgadmin_runs_on_the_pinned_pgadmin(cluster: LocalCluster) -> None:
    """The pod runs the rendered command, its start.py made the logins, and gunicorn serves on the
    local port; the pgAdmin standing in for the image is the version the image's tag names."""
    statefulset = cluster.rendered.get("StatefulSet", f"{CLUSTER}-pgadmin")
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["/venv/bin/python3", "/etc/pgadmin/start.py"]
    pins = dict(
        line.split("==") for line in (PGADMIN_VENV.parent / "requirements.txt").read_text().splitlines() if "==" in line
    )
    assert container["image"] == f"dpage/pgadmin4:{pins['pgadmin4']}"
    process = next(p for p in cluster.containers if p.container.pod.name == POD)
    assert process.container.run.command == ("/venv/bin/python3", "/etc/pgadmin/start.py")
    process.check_running()
    log = process.log.read_text(errors="replace")
    for user in (ADMIN, *(f"{u}@pgo" for u in USERS)):
        assert f"pgrender pgAdmin start: login {user} is as stated" in log, log
    assert f"Listening at: {cluster.pgadmin_url()}" in log, log


def test_settings_reach_pgadmin(cluster: LocalCluster) -> None:
    """A secret setting is read from its Secret's key, mounted into the pod (config_system.py reads the
    file): the login page shows the banner. The list setting keeps internal logins, as the rest shows."""
    _, page, _ = PgAdmin(cluster.pgadmin_url()).login_page()
    assert page["loginBanner"] == BANNER
    config = cluster.rendered.config_map(f"{CLUSTER}-pgadmin")["config_system.py"]
    assert "AUTHENTICATION_SOURCES = ['internal']" in config and BANNER not in config


def test_the_administrator_logs_in(cluster: LocalCluster) -> None:
    rendered = cluster.rendered
    assert rendered.secret(f"{CLUSTER}-pgadmin")["username"].decode() == ADMIN
    refused = PgAdmin(cluster.pgadmin_url()).login(ADMIN, admin_password(rendered) + "x")
    assert not refused.ok
    assert any("Incorrect username or password" in m for m in refused.messages), refused
    admin = PgAdmin(cluster.pgadmin_url())
    assert admin.login(ADMIN, admin_password(rendered)).ok
    assert admin.servers() == []  # pgadmin.json lists none for the Administrator


def the_server(client: PgAdmin) -> Server:
    servers = client.servers()
    assert len(servers) == 1, servers
    return servers[0]


@pytest.mark.parametrize("user", sorted(USERS))
def test_each_user_logs_in_and_connects_to_the_primary(cluster: LocalCluster, user: str) -> None:
    rendered = cluster.rendered
    secret = password(rendered, user)
    refused = PgAdmin(cluster.pgadmin_url()).login(f"{user}@pgo", secret + "x")
    assert not refused.ok and any("Incorrect username or password" in m for m in refused.messages), refused

    client = PgAdmin(cluster.pgadmin_url())
    assert client.login(f"{user}@pgo", secret).ok
    server = the_server(client)
    assert (server.name, server.group, server.host, server.port, server.username, server.maintenance_db) == (
        CLUSTER,
        CLUSTER,
        f"{CLUSTER}-primary.{rendered.namespace}.svc",
        5432,
        user,
        USERS[user],
    )
    assert server.sslmode == "verify-full"

    wrong = client.connect(server, secret + "x")
    assert not wrong.ok
    assert f'password authentication failed for user "{user}"' in wrong.message, wrong

    connected = client.connect(server, secret)
    assert connected.ok, connected
    assert USERS[user] in client.databases(server)
    # PostgreSQL's side: pgAdmin's session, as the user, over TLS.
    leader = cluster.wait_healthy()
    sessions = leader.psql(
        "SELECT a.usename, a.datname, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)"
        f" WHERE a.application_name LIKE 'pgAdmin 4%' AND a.usename = '{user}'"
    )
    assert [user, USERS[user], "t"] in sessions, sessions
    client.disconnect(server)
    client.logout()


def test_a_rotated_password_reaches_pgadmin_when_its_pod_restarts(cluster: LocalCluster, runtime_root: Path) -> None:
    original = cluster.rendered
    spec = copy.deepcopy(original.spec)
    next(u for u in spec["spec"]["users"] if u["name"] == "rhino")["passwordRotation"] = 1
    rotated = render_spec(spec, runtime_root / "specs" / "pgadmin-rotated")
    rotated = rotated.with_objects(banner_secret(rotated.namespace))
    old, new = password(original, "rhino"), password(rotated, "rhino")
    assert old != new
    assert password(rotated, "hippo") == password(original, "hippo")
    database = cluster.root / "claims" / f"{CLUSTER}-pgadmin" / "pgadmin4.db"
    inode = database.stat().st_ino

    applied = time.monotonic()
    cluster.apply(rotated)  # the pod's template changed: the StatefulSet rolls it
    assert POD in cluster.pod_deletions, "the pgAdmin pod was not restarted"
    job = cluster.run_job(cluster.root / "job-rotated")
    assert job.returncode == 0, job.stdout + job.stderr
    cluster.wait_pgadmin()
    print(f"pgAdmin answered {time.monotonic() - applied:.1f}s after the apply (its pod rolled, the Job ran)")
    assert database.stat().st_ino == inode  # the same claim, the same configuration database

    assert not PgAdmin(cluster.pgadmin_url()).login("rhino@pgo", old).ok
    client = PgAdmin(cluster.pgadmin_url())
    assert client.login("rhino@pgo", new).ok
    server = the_server(client)
    assert [name for _, name in client.server_groups()].count(CLUSTER) == 1  # replaced, not added again
    refused = client.connect(server, old)
    assert not refused.ok and "password authentication failed" in refused.message, refused
    assert client.connect(server, new).ok
    assert "zoo" in client.databases(server)
    # hippo's login did not change.
    assert wait_until(
        "hippo's login", lambda: PgAdmin(cluster.pgadmin_url()).login("hippo@pgo", password(rotated, "hippo")).ok, 10
    )
