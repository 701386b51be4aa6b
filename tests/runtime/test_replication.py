"""Bootstrap and streaming replication of the rendered clusters, as Patroni runs them.

What is checked is what the rendered configuration promises: one member leads, every other member
streams from it over TLS and authenticates with the replication client certificate (the role has
no password, and pg_hba allows it only with ``cert``) — and that the configuration Patroni runs is
the rendered one, changed only by the harness's documented ``localize``.
"""

from __future__ import annotations

import pytest

from .harness import LocalCluster, Member, PodFacts, config_differences, pod_path, resolve_env, wait_until

pytestmark = pytest.mark.runtime

REPLICATION_USER = "_pgrender_repl"
# Bootstrap on a loaded CI machine: initdb, basebackups and the first loops of every member.
BOOTSTRAP_BOUND_SECONDS = 60


def test_members_run_the_rendered_configuration(cluster: LocalCluster) -> None:
    """patroni.yaml and the pod environment differ from the rendered ones only where localize says.

    The config: nothing but the DCS section and volume paths (both mapped back before comparing).
    The environment: the four listen/connect addresses, the dropped pod IP, and volume paths that
    map back to exactly the rendered value.
    """
    allowed_env = {
        "PATRONI_POSTGRESQL_LISTEN",
        "PATRONI_POSTGRESQL_CONNECT_ADDRESS",
        "PATRONI_RESTAPI_LISTEN",
        "PATRONI_RESTAPI_CONNECT_ADDRESS",
        "PATRONI_KUBERNETES_POD_IP",
    }
    for member in cluster.members:
        assert member.run.patroni_config is not None
        assert config_differences(member.rendered_yaml, member.run.patroni_config, member.placement) == []
        sts = cluster.rendered.get("StatefulSet", member.statefulset)
        container = sts["spec"]["template"]["spec"]["containers"][0]
        pod_env = resolve_env(container, PodFacts(member.name, cluster.rendered.namespace), cluster.rendered)
        changed = {k for k in pod_env.keys() | member.run.env.keys() if pod_env.get(k) != member.run.env.get(k)}
        moved = {
            k for k in changed - allowed_env if pod_path(member.run.env.get(k, ""), member.placement) == pod_env.get(k)
        }
        assert changed - moved <= allowed_env, f"{member.name}: unexpected env overrides"
        assert moved, "the data dir, pgpass and config file paths are localized"
        assert member.run.env["PATRONI_NAME"] == member.name == f"{member.statefulset}-0"


def test_bootstrap_was_bounded(cluster: LocalCluster) -> None:
    """The cluster came up (leader plus streaming replicas) within a bounded time."""
    assert cluster.bootstrap_seconds is not None
    assert cluster.bootstrap_seconds < BOOTSTRAP_BOUND_SECONDS


def test_one_leader_and_every_replica_streams_over_tls_with_cert_auth(cluster: LocalCluster) -> None:
    """pg_stat_replication ⋈ pg_stat_ssl on the leader lists every other member: TLS, cert, streaming."""
    leader = cluster.wait_healthy()
    roles = {m["name"]: m["role"] for m in cluster.cluster_state()["members"]}
    assert [name for name, role in roles.items() if role == "leader"] == [leader.name]

    rows = cluster.streaming(leader)
    assert set(rows) == {m.name for m in cluster.members if m is not leader}
    for name, row in rows.items():
        assert row["usename"] == REPLICATION_USER, name
        assert row["state"] == "streaming", name
        assert row["ssl"] == "t", name
        assert row["client_dn"] == f"/CN={REPLICATION_USER}", name

    # The replication role has no password: the client certificate is the only way in.
    assert leader.psql(
        f"SELECT rolreplication, rolpassword IS NULL FROM pg_authid WHERE rolname = '{REPLICATION_USER}'"
    ) == [["t", "t"]]
    # Replicas connect to the leader's connect address: its pod name, as in Kubernetes (localize, 2.).
    assert all(
        m.run.env["PATRONI_POSTGRESQL_CONNECT_ADDRESS"] == f"{m.pod_dns_name}:{m.pg_port}" for m in cluster.members
    )
    for replica in (m for m in cluster.members if m is not leader):
        ((conninfo,),) = replica.psql("SELECT conninfo FROM pg_stat_wal_receiver")
        assert f"host={leader.pod_dns_name} " in conninfo and "sslmode=verify-ca" in conninfo, conninfo


def test_writes_on_the_leader_reach_every_replica(cluster: LocalCluster) -> None:
    """A row written on the leader becomes visible on every replica (hot standby reads)."""
    leader = cluster.wait_healthy()
    leader.psql("CREATE TABLE IF NOT EXISTS runtime_probe (v text); TRUNCATE runtime_probe")
    leader.psql(f"INSERT INTO runtime_probe VALUES ('written on {leader.name}')")
    expected = [[f"written on {leader.name}"]]
    for replica in (m for m in cluster.members if m is not leader):

        def arrived(replica: Member = replica) -> bool:
            return replica.psql("SELECT v FROM runtime_probe") == expected

        wait_until(f"the row to reach {replica.name}", arrived, timeout=15)
        assert replica.psql("SELECT pg_is_in_recovery()") == [["t"]]


def test_the_statefulset_probes_pass_on_every_member(cluster: LocalCluster) -> None:
    """The rendered liveness/readiness probes (HTTPS GETs on Patroni's port) answer 200 everywhere.

    A failing readiness probe would keep a pod out of its Services' endpoints; a failing liveness
    probe would have kubelet restart it.
    """
    cluster.wait_healthy()
    for member in cluster.members:
        container = cluster.rendered.get("StatefulSet", member.statefulset)["spec"]["template"]["spec"]["containers"][0]
        for probe in ("livenessProbe", "readinessProbe"):
            get = container[probe]["httpGet"]
            assert get["scheme"] == "HTTPS" and get["port"] == "patroni"
            status, body = member.api_response(get["path"])
            assert status == 200, f"{member.name} {probe} {get['path']}: {status} {body}"


def test_rendered_and_spec_parameters_are_in_effect_on_every_member(cluster: LocalCluster) -> None:
    """Every parameter of patroni.yaml (those naming files in the pod) and of the dynamic
    configuration (bootstrap.dcs: all others) is what PostgreSQL reports; spec.patroni.parameters
    must arrive too.
    """
    cluster.wait_healthy()
    spec_parameters = cluster.rendered.spec["spec"].get("patroni", {}).get("parameters", {})
    for member in cluster.members:
        config = member.run.patroni_config
        assert config is not None
        wanted = config["bootstrap"]["dcs"]["postgresql"]["parameters"] | config["postgresql"]["parameters"]
        for name, value in spec_parameters.items():
            expected = ("on" if value else "off") if isinstance(value, bool) else str(value)
            assert str(wanted.get(name)) == expected, f"spec parameter {name} is not rendered as {expected}"
        names = sorted(wanted)
        settings = member.psql("SELECT " + ", ".join(f"current_setting('{name}')" for name in names))[0]
        actual = dict(zip(names, settings, strict=True))
        for name in names:
            assert pod_path(actual[name], member.placement) == pod_path(str(wanted[name]), member.placement), (
                f"{member.name}: {name} = {actual[name]!r}, rendered {wanted[name]!r}"
            )


def test_with_etcd_the_services_select_by_the_role_patroni_reports(cluster: LocalCluster) -> None:
    """No pod carries a role label with etcd (nobody sets one): LocalCluster.selected gives each pod
    the label Patroni would set for the role it reports, so the primary Service selects the leader
    and the replicas Service every other member."""
    leader = cluster.wait_healthy()
    name = cluster.rendered.name
    others = [m for m in cluster.members if m is not leader]

    def replicas_selected() -> bool:
        return cluster.selected(f"{name}-replicas") == others

    wait_until("every replica to run, as Patroni reports it", replicas_selected, 30)
    assert cluster.selected(f"{name}-primary") == [leader]
    assert cluster.service_port(f"{name}-primary") == leader.pg_port
    assert all(
        "pgrender.io/role" not in (cluster.kube.pod(m.name) or {})["metadata"]["labels"] for m in cluster.members
    )
