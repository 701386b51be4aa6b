"""The pure parts of the harness's one override, :func:`harness.localize` and its pgBackRest half.

No processes: these run everywhere. They pin down what the localizers change (and, as much, what
they leave alone), since every real-process test relies on "the rendered config, changed only there".
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from .conftest import require_runtime
from .harness import (
    PGADMIN_VENV,
    HarnessError,
    Peer,
    Placement,
    PodFacts,
    Rendered,
    _local_path,
    _local_paths_in,
    _port_block,
    config_differences,
    free_ports,
    is_pgadmin,
    localize,
    localize_pgbackrest_conf,
    loopback_uri,
    missing_pgadmin_requirements,
    pgbackrest_host_names,
    pod_path,
    resolve_env,
)

POD = Path("/L/c-db-0")
PATHS = {
    "/pgdata": POD / "pgdata",
    "/pgconf/tls": POD / "pgconf/tls",
    "/etc/pgbackrest": POD / "etc/pgbackrest",
    "/etc/pgbouncer": POD / "etc/pgbouncer",
    "/etc/pgbouncer/secret": POD / "etc/pgbouncer/secret",
    "/tmp/pgbackrest": POD / "tmp/pgbackrest",
}


# --------------------------------------------------------------------------------------------
# Paths inside strings
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/pgdata", "/L/c-db-0/pgdata"),
        ("/pgdata/pg16", "/L/c-db-0/pgdata/pg16"),
        ("sh /etc/pgbackrest/restore.sh", "sh /L/c-db-0/etc/pgbackrest/restore.sh"),
        (
            "pgbackrest --config=/etc/pgbackrest/source.conf --stanza=db archive-get %f %p",
            "pgbackrest --config=/L/c-db-0/etc/pgbackrest/source.conf --stanza=db archive-get %f %p",
        ),
        ('x "/pgdata/pg16" y', 'x "/L/c-db-0/pgdata/pg16" y'),
        ("x '/pgdata'", "x '/L/c-db-0/pgdata'"),
        ("a /pgdata\tb=/pgconf/tls/ca.crt\n", "a /L/c-db-0/pgdata\tb=/L/c-db-0/pgconf/tls/ca.crt\n"),
        # the longest mount path wins
        ("/etc/pgbouncer/secret/users.txt", "/L/c-db-0/etc/pgbouncer/secret/users.txt"),
        ("/etc/pgbouncer/pgbouncer.ini", "/L/c-db-0/etc/pgbouncer/pgbouncer.ini"),
        # not at a word boundary: left alone
        ("x/pgdata/pg16", "x/pgdata/pg16"),
        ("a:/pgdata", "a:/pgdata"),
        ("/pgdatax", "/pgdatax"),
        ("/pgdata2/a", "/pgdata2/a"),
        ("/pgdata-old", "/pgdata-old"),
        ("/pgdata.", "/pgdata."),
        ("/tmp", "/tmp"),
        ("/tmp/pgpass", "/tmp/pgpass"),
        ("", ""),
    ],
)
def test_paths_are_mapped_at_word_boundaries(value: str, expected: str) -> None:
    assert _local_paths_in(value, PATHS) == expected


@pytest.mark.parametrize("value", ["/pgdata", "/pgdata/pg16", "/etc/pgbouncer/secret/x", "/pgdatax", "/usr/bin/x", ""])
def test_a_whole_value_maps_as_before(value: str) -> None:
    assert _local_paths_in(value, PATHS) == _local_path(value, PATHS)


def test_pod_path_inverts_the_mapping_inside_strings() -> None:
    where = Placement(PATHS, 5432)
    rendered = "sh /etc/pgbackrest/restore.sh --pgdata=/pgdata/pg16 '/pgconf/tls/ca.crt' /tmp/x"
    local = _local_paths_in(rendered, PATHS)
    assert local != rendered
    assert pod_path(local, where) == rendered


def test_localize_maps_paths_inside_patroni_config_command_and_env() -> None:
    patroni_yaml = """
kubernetes: {namespace: ns}
bootstrap:
  method: pgbackrest
  pgbackrest:
    command: sh /etc/pgbackrest/restore.sh
    keep_existing_recovery_conf: false
postgresql:
  data_dir: /pgdata/pg16
  parameters:
    archive_command: pgbackrest --stanza=db archive-push "%p"
    unix_socket_directories: /tmp
  recovery_conf:
    restore_command: pgbackrest --config=/etc/pgbackrest/source.conf --stanza=db archive-get %f "%p"
"""
    env = {
        "PGBACKREST_CONFIG": "/etc/pgbackrest/pgbackrest.conf",
        "PATRONI_POSTGRESQL_LISTEN": "0.0.0.0:5432",
        "PATRONI_POSTGRESQL_CONNECT_ADDRESS": "x:5432",
        "PATRONI_RESTAPI_LISTEN": "0.0.0.0:8008",
        "PATRONI_RESTAPI_CONNECT_ADDRESS": "x:8008",
        "OTHER": "--path=/pgdata/x",
    }
    where = Placement(PATHS, 15432, 18008, ("127.0.0.1:2379",))
    run = localize(["patroni", "/etc/pgbackrest/x.yaml"], env, patroni_yaml, where)
    assert run.patroni_config is not None
    config = run.patroni_config
    assert config["bootstrap"]["pgbackrest"]["command"] == "sh /L/c-db-0/etc/pgbackrest/restore.sh"
    assert config["postgresql"]["data_dir"] == "/L/c-db-0/pgdata/pg16"
    assert config["postgresql"]["parameters"]["archive_command"] == 'pgbackrest --stanza=db archive-push "%p"'
    assert config["postgresql"]["parameters"]["unix_socket_directories"] == "/tmp"
    assert config["postgresql"]["recovery_conf"]["restore_command"] == (
        'pgbackrest --config=/L/c-db-0/etc/pgbackrest/source.conf --stanza=db archive-get %f "%p"'
    )
    assert run.env["PGBACKREST_CONFIG"] == "/L/c-db-0/etc/pgbackrest/pgbackrest.conf"
    assert run.env["OTHER"] == "--path=/L/c-db-0/pgdata/x"
    assert run.command == ("patroni", "/L/c-db-0/etc/pgbackrest/x.yaml")


DCS_YAML = """
kubernetes: {namespace: ns, role_label: pgrender.io/role, use_endpoints: false, labels: {c: x}}
postgresql: {data_dir: /pgdata/pg16}
"""
MEMBER_ENV = {
    "PATRONI_KUBERNETES_POD_IP": "127.0.0.1",
    "PATRONI_POSTGRESQL_LISTEN": "*:5432",
    "PATRONI_POSTGRESQL_CONNECT_ADDRESS": "x:5432",
    "PATRONI_RESTAPI_LISTEN": "*:8008",
    "PATRONI_RESTAPI_CONNECT_ADDRESS": "x:8008",
}


def test_with_etcd_the_kubernetes_section_gives_way_to_etcd() -> None:
    where = Placement(PATHS, 15432, 18008, ("127.0.0.1:2379",))
    run = localize(["patroni", "/etc/patroni"], MEMBER_ENV, DCS_YAML, where)
    assert run.patroni_config is not None
    assert "kubernetes" not in run.patroni_config
    assert run.patroni_config["etcd3"] == {"hosts": ["127.0.0.1:2379"]}
    assert "PATRONI_KUBERNETES_POD_IP" not in run.env
    assert config_differences(DCS_YAML, run.patroni_config, where) == []


def test_with_the_kubernetes_dcs_the_section_and_the_pod_ip_stay_as_rendered() -> None:
    where = Placement(PATHS, 15432, 18008, dcs="kubernetes")
    run = localize(["patroni", "/etc/patroni"], MEMBER_ENV, DCS_YAML, where)
    assert run.patroni_config is not None
    assert "etcd3" not in run.patroni_config
    assert run.patroni_config["kubernetes"] == {
        "namespace": "ns",
        "role_label": "pgrender.io/role",
        "use_endpoints": False,
        "labels": {"c": "x"},
    }
    assert run.env["PATRONI_KUBERNETES_POD_IP"] == "127.0.0.1"
    assert config_differences(DCS_YAML, run.patroni_config, where) == []
    # the kubernetes section is compared too: a change to it would be an override
    changed = {**run.patroni_config, "kubernetes": {"namespace": "other"}}
    assert config_differences(DCS_YAML, changed, where) == ["kubernetes"]
    with pytest.raises(AssertionError, match="PATRONI_KUBERNETES_POD_IP"):
        localize(["patroni"], {**MEMBER_ENV, "PATRONI_KUBERNETES_POD_IP": "10.0.0.1"}, DCS_YAML, where)
    with pytest.raises(AssertionError, match="etcd or kubernetes"):
        localize(["patroni"], MEMBER_ENV, DCS_YAML, Placement(PATHS, 15432, 18008, dcs="zookeeper"))


def test_a_job_reaches_the_primary_by_address_but_an_application_through_its_services() -> None:
    env = {"PGHOST": "c-primary.ns.svc", "PGPORT": "5432", "URI": "postgresql://u@c-primary.ns.svc/db"}
    job = localize(["psql"], env, None, Placement(PATHS, 15432))
    assert (job.env["PGHOST"], job.env["PGHOSTADDR"], job.env["PGPORT"]) == ("c-primary.ns.svc", "127.0.0.1", "15432")
    # An application pod (localize 8.): the Service's name resolves to its stand-in; nothing changes.
    app = localize(["psql"], env, None, Placement({}, 0, services={"c-primary.ns.svc": "127.77.0.1"}))
    assert app.env == env and app.command == ("psql",)


def test_loopback_uri_changes_the_port_the_address_and_with_a_file_the_root_certificate() -> None:
    uri = "postgresql://u:p@c-primary.ns.svc:5432/db?sslmode=verify-full&sslrootcert=/etc/pgrender/c/ca.crt"
    assert loopback_uri(uri, 15432) == (
        "postgresql://u:p@c-primary.ns.svc:15432/db?sslmode=verify-full&sslrootcert=/etc/pgrender/c/ca.crt"
        "&hostaddr=127.0.0.1"
    )
    assert loopback_uri(uri, 15432, Path("/w/ca.crt")) == (
        "postgresql://u:p@c-primary.ns.svc:15432/db?sslmode=verify-full&sslrootcert=/w/ca.crt&hostaddr=127.0.0.1"
    )
    with pytest.raises(HarnessError):
        loopback_uri("postgresql://u:p@h:5432/db?sslmode=verify-full", 1, Path("/w/ca.crt"))


def test_env_from_as_kubelet_builds_it() -> None:
    secret = {"uri": "u", "jdbc-uri": "j", "ca.crt": "c", "1x": "skipped", "a b": "skipped", "PGHOST": "h"}
    rendered = Rendered(
        "c",
        "ns",
        {},
        (
            {
                "kind": "Secret",
                "metadata": {"name": "s"},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in secret.items()},
            },
        ),
    )
    container = {
        "envFrom": [{"secretRef": {"name": "s"}}, {"secretRef": {"name": "s"}, "prefix": "X_"}],
        "env": [{"name": "PGHOST", "value": "wins"}],
    }
    env = resolve_env(container, PodFacts("p", "ns"), rendered)
    assert env == {
        "uri": "u",
        "jdbc-uri": "j",
        "ca.crt": "c",
        "PGHOST": "wins",
        "X_uri": "u",
        "X_jdbc-uri": "j",
        "X_ca.crt": "c",
        "X_1x": "skipped",  # the prefix makes it a name
        "X_PGHOST": "h",
    }


# --------------------------------------------------------------------------------------------
# pgBackRest configs
# --------------------------------------------------------------------------------------------

MEMBER_0 = "c-instance1-0-0"
MEMBER_1 = "c-instance1-1-0"
REPO_HOST = "c-repo-host-0"
PEERS = {
    MEMBER_0: Peer({"/pgdata": Path("/L/m0/pgdata"), "/pgconf/tls": Path("/L/m0/pgconf/tls")}, 15001, 18001),
    MEMBER_1: Peer({"/pgdata": Path("/L/m1/pgdata")}, 15002, 18002),
    REPO_HOST: Peer({"/pgbackrest/repo2": Path("/L/rh/pgbackrest/repo2")}, None, 18003),
}
HOST_0 = f"{MEMBER_0}.c-pods.ns.svc.cluster.local"
HOST_1 = f"{MEMBER_1}.c-pods.ns.svc.cluster.local"
REPO_HOST_NAME = f"{REPO_HOST}.c-repo-host.ns.svc.cluster.local"

INSTANCE_CONF = f"""\
# rendered by pgrender
[global]
tls-server-address=*
tls-server-port=8432
tls-server-cert-file=/pgconf/tls/tls.crt
tls-server-key-file=/pgconf/tls/tls.key
tls-server-ca-file=/pgconf/tls/ca.crt
tls-server-auth=pgbackrest=db
log-path=/pgdata/pgbackrest/log
spool-path=/pgdata/pgbackrest/spool
lock-path=/tmp/pgbackrest
archive-async=y
repo1-type=s3
repo1-path=/pgbackrest/repo1
repo1-s3-bucket=backups
repo1-s3-endpoint=s3.example.com
repo1-storage-port=443
repo1-storage-ca-file=/pgconf/tls/s3/ca.crt
repo2-host={REPO_HOST_NAME}
repo2-host-type=tls
repo2-host-port=8432
repo2-host-cert-file=/pgconf/tls/pgbackrest/tls.crt
repo2-host-key-file=/pgconf/tls/pgbackrest/tls.key
repo2-host-ca-file=/pgconf/tls/ca.crt
repo2-path=/pgbackrest/repo2

[db]
pg1-path=/pgdata/pg16
pg1-port=5432
pg1-socket-path=/tmp
"""


def member_placement() -> Placement:
    paths = {
        "/pgdata": Path("/L/m0/pgdata"),
        "/pgconf/tls": Path("/L/m0/pgconf/tls"),
        "/etc/pgbackrest": Path("/L/m0/etc/pgbackrest"),
        "/tmp/pgbackrest": Path("/L/m0/tmp/pgbackrest"),
        # a repo volume mounted here would still not move an object store's repo path
        "/pgbackrest/repo1": Path("/L/m0/pgbackrest/repo1"),
    }
    return Placement(paths, 15001, 18101, pgbackrest_port=18001, peers=PEERS)


def changed_lines(before: str, after: str) -> dict[str, str]:
    """key -> new value of the lines that differ (the two texts must have the same line count)."""
    old, new = before.splitlines(), after.splitlines()
    assert len(old) == len(new), after
    return {b.partition("=")[0]: b.partition("=")[2] for a, b in zip(old, new, strict=True) if a != b}


def test_instance_conf_gets_local_paths_and_ports_and_nothing_else() -> None:
    local = localize_pgbackrest_conf(INSTANCE_CONF, member_placement())
    assert changed_lines(INSTANCE_CONF, local) == {
        "tls-server-address": "127.0.0.1",
        "tls-server-port": "18001",
        "tls-server-cert-file": "/L/m0/pgconf/tls/tls.crt",
        "tls-server-key-file": "/L/m0/pgconf/tls/tls.key",
        "tls-server-ca-file": "/L/m0/pgconf/tls/ca.crt",
        "log-path": "/L/m0/pgdata/pgbackrest/log",
        "spool-path": "/L/m0/pgdata/pgbackrest/spool",
        "lock-path": "/L/m0/tmp/pgbackrest",
        "repo1-storage-ca-file": "/L/m0/pgconf/tls/s3/ca.crt",
        # the repo host: its port; its repo path in *its* directory; the client files are ours
        "repo2-host-port": "18003",
        "repo2-host-cert-file": "/L/m0/pgconf/tls/pgbackrest/tls.crt",
        "repo2-host-key-file": "/L/m0/pgconf/tls/pgbackrest/tls.key",
        "repo2-host-ca-file": "/L/m0/pgconf/tls/ca.crt",
        "repo2-path": "/L/rh/pgbackrest/repo2",
        "pg1-path": "/L/m0/pgdata/pg16",
        "pg1-port": "15001",
    }
    # kept: comments, sections, names, the object store's repo path, the shared socket directory
    for line in ("# rendered by pgrender", "[global]", "[db]", "repo1-path=/pgbackrest/repo1", "pg1-socket-path=/tmp"):
        assert line in local.splitlines()
    assert f"repo2-host={REPO_HOST_NAME}" in local.splitlines()


JOB_CONF = f"""\
[global]
repo1-type=s3
repo1-path=/c/repo1
repo1-storage-ca-file=/pgconf/tls/s3/ca.crt
start-fast=y

[db]
pg1-host={HOST_0}
pg1-host-type=tls
pg1-host-port=8432
pg1-host-cert-file=/pgconf/tls/pgbackrest/tls.crt
pg1-host-key-file=/pgconf/tls/pgbackrest/tls.key
pg1-host-ca-file=/pgconf/tls/ca.crt
pg1-path=/pgdata/pg16
pg1-port=5432
pg1-socket-path=/tmp
pg2-host={HOST_1}
pg2-host-type=tls
pg2-host-port=8432
pg2-host-cert-file=/pgconf/tls/pgbackrest/tls.crt
pg2-path=/pgdata/pg16
pg2-port=5432
"""


def test_a_backup_job_reaches_each_member_with_that_members_ports_and_paths() -> None:
    job_paths = {"/pgconf/tls": Path("/L/job/pgconf/tls"), "/etc/pgbackrest": Path("/L/job/etc/pgbackrest")}
    local = localize_pgbackrest_conf(JOB_CONF, Placement(job_paths, 0, peers=PEERS))
    assert changed_lines(JOB_CONF, local) == {
        "repo1-storage-ca-file": "/L/job/pgconf/tls/s3/ca.crt",
        "pg1-host-port": "18001",
        "pg1-host-cert-file": "/L/job/pgconf/tls/pgbackrest/tls.crt",
        "pg1-host-key-file": "/L/job/pgconf/tls/pgbackrest/tls.key",
        "pg1-host-ca-file": "/L/job/pgconf/tls/ca.crt",
        "pg1-path": "/L/m0/pgdata/pg16",
        "pg1-port": "15001",
        "pg2-host-port": "18002",
        "pg2-host-cert-file": "/L/job/pgconf/tls/pgbackrest/tls.crt",
        "pg2-path": "/L/m1/pgdata/pg16",
        "pg2-port": "15002",
    }
    assert pgbackrest_host_names(JOB_CONF) == sorted([HOST_0, HOST_1])
    assert pgbackrest_host_names(INSTANCE_CONF) == [REPO_HOST_NAME]


def test_a_lock_path_given_stays_as_rendered() -> None:
    conf = "[global]\nlock-path=/pgdata/pgbackrest/lock\n"
    assert localize_pgbackrest_conf(conf, member_placement()).splitlines() == [
        "[global]",
        "lock-path=/L/m0/pgdata/pgbackrest/lock",
    ]


def test_ports_left_at_their_default_are_added() -> None:
    conf = "[global]\ntls-server-address=*\ntls-server-auth=pgbackrest=db\n\n"
    conf += f"[db]\npg1-host={HOST_1}\npg1-path=/pgdata/pg16\n"
    local = localize_pgbackrest_conf(conf, member_placement())
    assert local.splitlines() == [
        "[global]",
        "lock-path=/L/m0/tmp/pgbackrest",  # the default, in the container's own /tmp
        "tls-server-address=127.0.0.1",
        "tls-server-port=18001",
        "tls-server-auth=pgbackrest=db",
        "",
        "[db]",
        f"pg1-host={HOST_1}",
        "pg1-host-port=18002",
        "pg1-path=/L/m1/pgdata/pg16",
        "pg1-port=15002",
    ]
    # and localizing is idempotent: nothing more is added the second time
    assert localize_pgbackrest_conf(local, member_placement()) == local


def test_a_host_or_port_the_placement_does_not_know_is_an_error() -> None:
    with pytest.raises(HarnessError, match="no such pod"):
        localize_pgbackrest_conf("[db]\npg1-host=stranger.ns.svc\npg1-path=/pgdata\n", member_placement())
    with pytest.raises(HarnessError, match="tls-server-port"):
        localize_pgbackrest_conf("[global]\ntls-server-port=8432\n", Placement({}, 0))
    with pytest.raises(HarnessError, match="repo2-host-port"):
        localize_pgbackrest_conf(f"[global]\nrepo2-host={MEMBER_0}\n", Placement({}, 0, peers={MEMBER_0: Peer({})}))


# --------------------------------------------------------------------------------------------
# pgAdmin's container (localize, 14.)
# --------------------------------------------------------------------------------------------

PGADMIN_COMMAND = ["/venv/bin/python3", "/etc/pgadmin/start.py"]
PGADMIN_ENV = {
    "PGADMIN_DIR": "/pgadmin4",
    "PGADMIN_LISTEN_ADDRESS": "0.0.0.0",
    "PGADMIN_LISTEN_PORT": "5050",
    "PGADMIN_SETUP_EMAIL": "admin@pgrender",
    "PGADMIN_SETUP_PASSWORD": "secret",
    "HOME": "/tmp",
}


def test_pgadmin_is_told_by_its_python_and_pgadmin_dir() -> None:
    assert is_pgadmin(PGADMIN_COMMAND, PGADMIN_ENV)
    assert not is_pgadmin(["python3", "/etc/pgadmin/start.py"], PGADMIN_ENV)
    assert not is_pgadmin(PGADMIN_COMMAND, {k: v for k, v in PGADMIN_ENV.items() if k != "PGADMIN_DIR"})
    assert not is_pgadmin([], PGADMIN_ENV)


def test_pgadmin_listens_on_its_local_port_with_the_image_stood_in_for() -> None:
    require_runtime(missing_pgadmin_requirements())
    run = localize(PGADMIN_COMMAND, PGADMIN_ENV, None, Placement({}, 0, pgadmin_port=15050))
    assert run.command == tuple(PGADMIN_COMMAND)
    assert run.env == PGADMIN_ENV | {"PGADMIN_LISTEN_ADDRESS": "127.0.0.1", "PGADMIN_LISTEN_PORT": "15050"}
    binds = dict((at, local) for local, at in run.image_binds)
    assert sorted(binds) == ["/pgadmin4", "/venv"]
    assert binds["/venv"] == PGADMIN_VENV
    assert (binds["/pgadmin4"] / "pgAdmin4.py").exists() and binds["/pgadmin4"].is_relative_to(PGADMIN_VENV)


def test_pgadmin_without_a_local_port_is_an_error() -> None:
    with pytest.raises(HarnessError, match="no pgAdmin port"):
        localize(PGADMIN_COMMAND, PGADMIN_ENV, None, Placement({}, 0))


@pytest.mark.parametrize(("worker", "other"), [("gw0", "gw1"), ("gw3", "gw2"), ("gw1", "gw7")])
def test_ports_come_from_a_block_of_the_workers_own_below_the_ephemeral_range(
    monkeypatch: pytest.MonkeyPatch, worker: str, other: str
) -> None:
    """What a client's outgoing connection never takes (its source port is ephemeral), and what no other
    test process hands out."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    monkeypatch.setenv("PYTEST_XDIST_WORKER", other)
    others = set(_port_block())
    monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    mine = _port_block()
    ports = free_ports(3) + free_ports(2)
    assert len(set(ports)) == 5 and all(p in mine and p < low for p in ports), ports
    assert not others & set(mine)
