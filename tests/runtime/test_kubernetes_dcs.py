"""Patroni's Kubernetes DCS, as the rendered pods run it in production: the ``kubernetes:`` section of
the rendered patroni.yaml unchanged, against the Kubernetes API stand-in (kube_api.py) with the
rendered Role of the members' service account (``LocalCluster(dcs="kubernetes")``; the other modules
run a local etcd instead, harness.localize 1.). No etcd runs here.

What it proves, with real processes only:

============================================  ==============================================================
the cluster bootstraps                        trio's three members: one leads, the others stream (one of
                                              them synchronous); the leader, config and sync ConfigMaps
                                              say so; the rendered Role allowed every request
the pods carry the role labels                the leader's pod ``pgrender.io/role: master``, the others
                                              ``replica``: the primary Service reaches the leader, the
                                              replicas Service a replica
the reconcile Job works                       roles and databases made; its switchover moves the leader,
                                              the labels and the primary Service with it; its rollout of
                                              a new pod template replaces every pod through the API, and
                                              each new pod gets its label from its Patroni
losing the leader's pod                       a replica leads within the lease; the dead pod keeps its
                                              label but, not ready, is no endpoint; back, it is a replica
the in-place major upgrade                    hippo at the default major, shut down, applied at 17 with
                                              ``upgrade.fromVersion``: the guard runs on Patroni's Kubernetes
                                              DCS classes, the primary upgrades and leads, the other rejoins,
                                              every row is there
============================================  ==============================================================
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .harness import (
    UPGRADE_TARGET_MAJOR,
    LocalCluster,
    Member,
    Rendered,
    client_psql,
    config_differences,
    default_pg_major,
    local_spec,
    loopback_uri,
    render_spec,
    running_cluster,
    service_stand_in,
    wait_until,
    write_secret,
)
from .test_upgrade import control, fill, hippo_at, rows_everywhere, shut_down, upgraded

pytestmark = pytest.mark.runtime

ROLE = "pgrender.io/role"
# Slack beyond ttl + 2 * loop_wait for process start-up, API round trips and a loaded CI machine.
MARGIN_SECONDS = 8


@pytest.fixture(scope="module")
def kube_trio(runtime_root: Path) -> Iterator[LocalCluster]:
    """examples/trio.yaml (three members, synchronous mode) on the Kubernetes DCS, after its
    reconcile Job (which makes the users the Services are reached as), as after an apply."""
    rendered = render_spec(local_spec("trio"), runtime_root / "specs" / "trio-k8s")
    with running_cluster(rendered, runtime_root / "trio-k8s", dcs="kubernetes") as cluster:
        job = cluster.run_job(cluster.root / "job-first")
        assert job.returncode == 0, job.stdout + job.stderr
        yield cluster


def kubernetes_section(cluster: LocalCluster) -> dict[str, Any]:
    section: dict[str, Any] = yaml.safe_load(cluster.rendered.patroni_yaml)["kubernetes"]
    return section


def scope(cluster: LocalCluster) -> str:
    return str(yaml.safe_load(cluster.rendered.patroni_yaml)["scope"])


def annotations(cluster: LocalCluster, config_map: str) -> dict[str, str]:
    """The annotations of ConfigMap ``<scope>-<config_map>`` in the API (where Patroni keeps its keys)."""
    stored = cluster.kube.stored("configmaps", f"{scope(cluster)}-{config_map}")
    assert stored is not None, f"no ConfigMap {scope(cluster)}-{config_map}"
    found: dict[str, str] = stored["metadata"].get("annotations") or {}
    return found


def labels(cluster: LocalCluster) -> dict[str, str | None]:
    """Each member's pod's role label, as the API serves the pod."""
    pods = {m.name: cluster.kube.pod(m.name) for m in cluster.members}
    return {name: (pod or {}).get("metadata", {}).get("labels", {}).get(ROLE) for name, pod in pods.items()}


def settled(cluster: LocalCluster) -> Member | None:
    """The leader once everything agrees: the primary Service selects exactly one member by its label;
    Patroni (GET /cluster) says it leads and every other member runs as a replica; the other pods are
    labelled ``replica``; every other member streams from the leader."""
    leader = cluster.leader()
    if leader is None:
        return None
    roles = {m["name"]: (m.get("role"), m.get("state")) for m in cluster.cluster_state()["members"]}
    others = [m for m in cluster.members if m is not leader]
    if roles.get(leader.name, (None,))[0] != "leader":
        return None
    if any(roles.get(m.name) not in (("replica", "running"), ("sync_standby", "running")) for m in others):
        return None
    if labels(cluster) != {m.name: "master" if m is leader else "replica" for m in cluster.members}:
        return None
    streaming = cluster.streaming(leader)
    return leader if all(streaming.get(m.name, {}).get("state") == "streaming" for m in others) else None


def wait_settled(cluster: LocalCluster, timeout: float = 90) -> Member:
    return wait_until(
        "the cluster, its labels and its Services to agree on one leader", lambda: settled(cluster), timeout
    )


def synchronous_standby(cluster: LocalCluster, leader: Member) -> str | None:
    """The synchronous standby of ``leader`` as the sync ConfigMap names it, once PostgreSQL on the
    leader treats it as synchronous too."""
    sync = annotations(cluster, "sync")
    standby = sync.get("sync_standby")
    if sync.get("leader") != leader.name or not standby:
        return None
    return standby if cluster.streaming(leader).get(standby, {}).get("sync_state") == "sync" else None


def through_service(cluster: LocalCluster, service: str, sql: str) -> list[str]:
    """``sql`` as the ``app`` user, over its Secret's uri, through a stand-in of rendered Service
    ``service`` that forwards to a member that Service selects now (by the pods' labels)."""
    rendered = cluster.rendered
    secret = f"{rendered.name}-pguser-app"
    files = write_secret(rendered, secret, cluster.root / "logins" / secret)
    with service_stand_in(service, 0, lambda: cluster.service_port(service), address="127.0.0.1") as stand_in:
        uri = loopback_uri(rendered.secret(secret)["uri"].decode(), stand_in.port, files / "ca.crt")
        result = client_psql(uri, sql, {"PGSSLROOTCERT": str(files / "ca.crt")})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().split("\t")


def server(cluster: LocalCluster, service: str) -> tuple[str, bool]:
    """(member, in recovery) of the server ``service`` reaches: the member found by the local port."""
    port, recovery = through_service(cluster, service, "SELECT inet_server_port(), pg_is_in_recovery()")
    (member,) = [m.name for m in cluster.members if m.pg_port == int(port)]
    return member, recovery == "t"


def test_the_cluster_bootstraps_with_its_state_in_config_maps(kube_trio: LocalCluster) -> None:
    leader = wait_settled(kube_trio)
    assert kube_trio.etcd.proc is None, "no etcd runs"
    rendered_section = kubernetes_section(kube_trio)
    assert rendered_section["use_endpoints"] is False
    for member in kube_trio.members:
        config = member.run.patroni_config
        assert config is not None and "etcd3" not in config
        assert config["kubernetes"] == rendered_section
        assert config_differences(member.rendered_yaml, config, member.placement) == []
        assert member.run.env["PATRONI_KUBERNETES_POD_IP"] == "127.0.0.1"
        assert member.run.env["KUBERNETES_SERVICE_PORT"] == kube_trio.kube.env["KUBERNETES_SERVICE_PORT"]
    system = leader.api("/patroni")["database_system_identifier"]
    assert annotations(kube_trio, "leader")["leader"] == leader.name
    config = annotations(kube_trio, "config")
    assert config["initialize"] == system
    assert json.loads(config["config"])["synchronous_mode"] is True
    sync = wait_until("a synchronous standby", lambda: synchronous_standby(kube_trio, leader), 30)
    assert sync != leader.name
    labels_of_objects = kube_trio.kube.stored("configmaps", f"{scope(kube_trio)}-leader")["metadata"]["labels"]
    assert labels_of_objects == rendered_section["labels"] | {rendered_section["scope_label"]: scope(kube_trio)}
    # Everything Patroni asked, the rendered Role allowed: lists, watches, patches, creates.
    methods = {method for method, _, _ in kube_trio.kube.requests}
    assert {"GET", "PATCH", "POST"} <= methods
    refused = [(method, path, code) for method, path, code in kube_trio.kube.requests if code in (401, 403, 404, 405)]
    assert refused == []


def test_the_pods_carry_the_role_labels_the_services_select_by(kube_trio: LocalCluster) -> None:
    leader = wait_settled(kube_trio)
    assert labels(kube_trio) == {m.name: "master" if m is leader else "replica" for m in kube_trio.members}
    pod = kube_trio.kube.pod(leader.name)
    assert pod is not None
    status = json.loads(pod["metadata"]["annotations"]["status"])
    assert status["role"] == "master" and status["state"] == "running"
    assert f"{leader.pod_dns_name}:{leader.pg_port}" in status["conn_url"]
    primary, replicas = f"{kube_trio.rendered.name}-primary", f"{kube_trio.rendered.name}-replicas"
    assert kube_trio.selected(primary) == [leader]
    assert kube_trio.selected(replicas) == [m for m in kube_trio.members if m is not leader]
    assert server(kube_trio, primary) == (leader.name, False)
    replica, in_recovery = server(kube_trio, replicas)
    assert replica != leader.name and in_recovery


def test_the_reconcile_job_works_and_its_switchover_moves_the_leader_and_the_labels(
    kube_trio: LocalCluster,
) -> None:
    leader = wait_settled(kube_trio)
    original = kube_trio.rendered
    job = kube_trio.run_job(kube_trio.root / "job")
    assert job.returncode == 0, job.stdout + job.stderr
    users = {row[0] for row in leader.psql("SELECT rolname FROM pg_roles")}
    assert {"app", "reporting", "migrator", "auditors"} <= users
    databases = {row[0] for row in leader.psql("SELECT datname FROM pg_database")}
    assert {"payments", "ledger"} <= databases
    target = wait_until("a synchronous standby", lambda: synchronous_standby(kube_trio, leader), 30)

    spec = json.loads(json.dumps(original.spec))
    spec["spec"]["patroni"]["switchover"] = {"run": 1, "target": target}
    switched: Rendered = render_spec(spec, kube_trio.root / "respec-switchover")
    kube_trio.apply(switched)
    job = kube_trio.run_job(kube_trio.root / "job-switchover")
    assert job.returncode == 0, job.stdout + job.stderr
    assert f"{leader.name}: switchover to {target}" in job.stdout
    new = wait_settled(kube_trio)
    assert new.name == target
    assert labels(kube_trio)[leader.name] == "replica"
    assert annotations(kube_trio, "leader")["leader"] == target
    assert server(kube_trio, f"{kube_trio.rendered.name}-primary") == (target, False)
    kube_trio.apply(original)


def test_a_pod_template_change_is_rolled_by_the_job_and_the_new_pods_get_their_labels(
    kube_trio: LocalCluster,
) -> None:
    """The Job replaces every pod through the API (replicas first, the leader's last after its
    switchover); each new pod, made from the template without a role label, gets its label from
    its Patroni, and the Services follow."""
    old_leader = wait_settled(kube_trio)
    original = kube_trio.rendered
    uids = {m.name: (kube_trio.kube.pod(m.name) or {})["metadata"]["uid"] for m in kube_trio.members}
    spec = json.loads(json.dumps(original.spec))
    spec["spec"]["instances"][0]["resources"]["requests"]["cpu"] = "750m"
    resized = render_spec(spec, kube_trio.root / "respec-resources")
    before = len(kube_trio.kube.requests)
    kube_trio.apply(resized)
    job = kube_trio.run_job(kube_trio.root / "job-resources")
    assert job.returncode == 0, job.stdout + job.stderr
    deletions = [path.rsplit("/", 1)[-1] for method, path, _ in kube_trio.kube.requests[before:] if method == "DELETE"]
    assert deletions[-1] == old_leader.name and sorted(deletions) == sorted(uids), deletions
    leader = wait_settled(kube_trio)
    assert leader.name != old_leader.name, "the Job hands the leader role over before the leader's pod goes"
    for member in kube_trio.members:
        pod = kube_trio.kube.pod(member.name)
        assert pod is not None and pod["metadata"]["uid"] != uids[member.name], member.name
        template = resized.get("StatefulSet", member.statefulset)["spec"]["template"]["metadata"]
        assert all(pod["metadata"]["labels"][k] == v for k, v in template["labels"].items()), member.name
    assert server(kube_trio, f"{kube_trio.rendered.name}-primary") == (leader.name, False)


def test_losing_the_leader_moves_the_leader_and_the_labels(kube_trio: LocalCluster) -> None:
    old = wait_settled(kube_trio)
    config = old.run.patroni_config
    assert config is not None
    ttl, loop_wait = int(config["bootstrap"]["dcs"]["ttl"]), int(config["bootstrap"]["dcs"]["loop_wait"])
    # Synchronous mode: only the standby the sync ConfigMap names may take over (until the leader has
    # written one there, after a switchover, nobody may: Patroni's guarantee against losing commits).
    candidate = wait_until("a synchronous standby", lambda: synchronous_standby(kube_trio, old), 30)
    old.crash()

    def new_leader() -> Member | None:
        """A leader other than ``old`` by its label, out of recovery. (Patroni labels its pod, and
        answers /readiness, as soon as it holds the leader object: a moment before it has promoted.)"""
        leader = kube_trio.leader()
        if leader is None or leader is old:
            return None
        return leader if leader.psql("SELECT pg_is_in_recovery()") == [["f"]] else None

    new = wait_until("a new leader by its label", new_leader, ttl + 2 * loop_wait + MARGIN_SECONDS)
    assert new.name == candidate
    # Nobody took the dead pod's label away (its Patroni was killed); not ready, it is no endpoint.
    assert labels(kube_trio)[old.name] == "master"
    assert kube_trio.selected(f"{kube_trio.rendered.name}-primary") == [new]
    assert server(kube_trio, f"{kube_trio.rendered.name}-primary") == (new.name, False)

    old.start()
    assert wait_settled(kube_trio) is new
    assert labels(kube_trio)[old.name] == "replica"
    assert old.psql("SELECT pg_is_in_recovery()") == [["t"]]


def test_a_replica_copy_that_did_not_finish_is_copied_again(kube_trio: LocalCluster) -> None:
    """The copy guard (member_scripts/copy_guard.py) on the Kubernetes DCS, asking the store through
    Patroni's Kubernetes classes each time:

    - a replica on a new data volume beside its old WAL volume (trio has one): pg_basebackup refuses
      the WAL directory that is not empty, and Patroni retried for ever; the guard empties it, as
      another member leads, and Patroni copies the replica;
    - the replica stopped without its copy's last file (global/pg_control, which pg_basebackup and
      pgBackRest's restore write last: what a kill in the middle leaves): the guard empties the data
      and WAL directories, and Patroni copies it again."""
    leader = wait_settled(kube_trio)
    replica = next(m for m in kube_trio.members if m is not leader)
    marker = replica.data_dir.with_name(replica.data_dir.name + ".copying")
    wal = (replica.data_dir / "pg_wal").resolve()
    replica.stop()
    shutil.rmtree(replica.data_dir)  # the pg_wal link, not the WAL volume's segments
    assert any(wal.iterdir())
    replica.start()
    assert wait_settled(kube_trio) is leader
    (emptied,) = [line for line in replica.log_tail(400).splitlines() if "WAL without its data directory" in line]
    assert emptied.startswith("pgrender copy guard: emptied ") and f"/{wal.name}: " in emptied  # the pod's path
    assert marker.exists()  # made when the guard found the directory gone; this start found no copy yet
    replica.stop()
    (replica.data_dir / "global" / "pg_control").unlink()
    leader.psql("CREATE TABLE IF NOT EXISTS copied (what text)")
    leader.psql("INSERT INTO copied VALUES ('after the copy that did not finish')")
    replica.start()
    assert wait_settled(kube_trio) is leader
    log = replica.log_tail(400)
    assert f"pgrender copy guard: emptied {replica.data_dir}: a copy into it did not finish" in log
    assert f"pgrender copy guard: {leader.name} leads: Patroni copies this member's data again" in log
    query = "SELECT what FROM copied"
    wait_until("the copied row", lambda: replica.psql(query) == [["after the copy that did not finish"]], 30)


def test_an_in_place_major_upgrade_runs_on_the_kubernetes_dcs(upgrade_root: Path) -> None:
    """test_upgrade.py's upgrade of a shut-down cluster, on the Kubernetes DCS, in synchronous mode:
    the guards publish in their pods' status annotations; the one that upgrades hands over in the
    ConfigMaps (the old sync state cleared, with its resourceVersion, before the initialize key, which
    comes last), and the members start as Patroni from there."""
    old, new = default_pg_major(), UPGRADE_TARGET_MAJOR
    assert old is not None and old < new
    root = upgrade_root
    spec = hippo_at(old, "kup")
    spec["spec"].setdefault("patroni", {})["synchronousMode"] = True
    rendered = render_spec(spec, root / "specs" / "kup-old")
    with running_cluster(rendered, root / "kup", dcs="kubernetes") as cluster:
        leader = fill(cluster)
        primary = leader.name
        wait_until("a synchronous standby", lambda: synchronous_standby(cluster, leader), 30)
        old_system = cluster.member(primary).api("/patroni")["database_system_identifier"]
        assert annotations(cluster, "config")["initialize"] == old_system
        shut_down(cluster, spec, root / "specs" / "kup-stopped")
        assert annotations(cluster, "sync").get("leader") == primary, "the old sync state, for the guard to clear"
        stopped = len(cluster.kube.history("configmaps", f"{scope(cluster)}-sync"))
        guards = {m.name: len(cluster.kube.history("pods", m.name)) for m in cluster.members}
        cluster.apply(render_spec(upgraded(spec, old), root / "specs" / "kup-upgraded"))
        leader = wait_settled(cluster, 180)
        assert leader.name == primary, "the member that stopped as the primary holds the data and leads"
        assert leader.psql("SELECT current_setting('server_version_num')::int / 10000") == [[str(new)]]
        wait_until("every member has the rows at the new version", lambda: rows_everywhere(cluster), 60)
        systems = {m.name: control(m, new)["Database system identifier"] for m in cluster.members}
        assert len(set(systems.values())) == 1 and old_system not in systems.values(), systems
        assert annotations(cluster, "config")["initialize"] == systems[primary]
        assert annotations(cluster, "leader")["leader"] == primary
        for member in cluster.members:
            assert not (member.data_dir.parent / f"pg{old}").exists(), member.name
        # The guards published their facts in their pods' status annotation, the role label taken away.
        for member in cluster.members:
            upgrading = [
                pod
                for _, pod in cluster.kube.history("pods", member.name)[guards[member.name] :]
                if json.loads((pod["metadata"].get("annotations") or {}).get("status", "{}")).get("state")
                == "upgrading"
            ]
            assert upgrading, f"{member.name}: its guard published nothing"
            assert all(ROLE not in pod["metadata"]["labels"] for pod in upgrading), member.name
            status = json.loads(upgrading[0]["metadata"]["annotations"]["status"])
            assert status["pgrender_upgrade"]["system_id"] == old_system, member.name
        # The sync state cleared (no leader, no standby) before the initialize key named the new system.
        sync_changes = cluster.kube.history("configmaps", f"{scope(cluster)}-sync")[stopped:]
        cleared = [
            int(cm["metadata"]["resourceVersion"])
            for _, cm in sync_changes
            if not {"leader", "sync_standby"} & set(cm["metadata"].get("annotations") or {})
        ]
        initialized = [
            int(cm["metadata"]["resourceVersion"])
            for _, cm in cluster.kube.history("configmaps", f"{scope(cluster)}-config")
            if (cm["metadata"].get("annotations") or {}).get("initialize") == systems[primary]
        ]
        assert cleared and initialized and cleared[0] < initialized[0], (sync_changes, initialized)
        assert wait_until("a synchronous standby again", lambda: synchronous_standby(cluster, leader), 30)
        assert "it upgrades the cluster" in leader.log.read_text()
        (replica,) = [m for m in cluster.members if m is not leader]
        assert "the cluster was upgraded" in replica.log.read_text()
        refused = [(method, path, code) for method, path, code in cluster.kube.requests if code in (401, 403, 405)]
        assert refused == []
