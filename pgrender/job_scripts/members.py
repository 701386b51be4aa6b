"""The reconcile Job's hands on the running members (shipped in ConfigMap <c>-reconcile, run with the
image's python3; standard library only, nothing of pgrender is imported).

``configure FILE``
    Make Patroni's dynamic configuration equal to FILE (PUT /config replaces it whole); nothing
    when it already is. Patroni then reloads every member, or flags ``pending_restart`` on those
    whose change needs a restart.

``roll``
    Bring every member to the pod template and settings it was rendered with, one member at a time:

    1. Wait until each member StatefulSet carries the template revision this Job was rendered with
       (``PGRENDER_MEMBER_REVISIONS``: ``<statefulset>/<pod>=<revision>`` per member; the
       StatefulSets are OnDelete, so applying them replaced nothing).
    2. A member whose pod is gone, or already down, and older than its template is replaced first:
       that takes down nothing that is up.
    3. Replicas, one at a time (asynchronous ones before the synchronous standby): a pod older than
       its template is deleted (its StatefulSet makes it anew from the new template); a member whose
       Patroni reports ``pending_restart`` is restarted through Patroni (POST /restart). The next
       step waits until it is back, streaming from the leader, and its lag is at most the bound.
    4. The leader last: a switchover to an up-to-date replica (the synchronous standby in
       synchronous mode), then the old leader, now a replica, like step 3. A cluster of one member
       has no replica to switch over to: its restart is an outage, and the log says so.

    Before taking a member down, every other member must be running and streaming within the lag
    bound; else the rollout stops. Any failure stops it with a message saying which member, which
    step and why, and exit status 1: the Job fails, and the cluster keeps serving with the members
    that are up. Run again (the Job's next pod), it carries on where it stopped: every step checks
    the state first.

``switchover --run=N [--target=POD]``
    spec.patroni.switchover, after ``roll``: hand the leader role to POD (or an up-to-date replica),
    once for run N. The run is recorded in table pgrender.switchovers (database postgres, through
    psql and the PG* variables) with the leader it started from, before the switchover, and marked
    done after it: a Job that runs again (its next pod, or a later Job) makes none twice, also
    when it stopped between the switchover and the mark (the leader is no longer the one recorded).
    Like ``roll``, it takes the leader down only while every other member is up and streaming.

The Kubernetes API is reached as every in-cluster client does: the service account token, CA and
namespace under /var/run/secrets/kubernetes.io/serviceaccount, the host and port from
KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT. Patroni's REST API with the superuser's client
certificate (PGSSLCERT, PGSSLKEY, PGSSLROOTCERT) and the REST API password.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
TEMPLATE_DIGEST = "pgrender.io/template-digest"
# When `configure` changed the configuration: `roll` gives every member's Patroni time to apply it.
CHANGED_MARK = "/tmp/pgrender-configuration-changed"
LEADER_ROLES = ("leader", "standby_leader")
POLL_SECONDS = 2.0
MEMBER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")  # a pod's name, Patroni's member name


class Stop(Exception):
    """A step failed: the rollout stops here; the message says where and why."""


def log(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------------------------
# Patroni's REST API
# --------------------------------------------------------------------------------------------


class Patroni:
    """Every member's REST API, by member (pod) name, with the superuser's client certificate."""

    def __init__(self, environ: dict[str, str]) -> None:
        self.context = ssl.create_default_context(cafile=environ["PGSSLROOTCERT"])
        self.context.load_cert_chain(environ["PGSSLCERT"], environ["PGSSLKEY"])
        credentials = environ["PGRENDER_PATRONI_USERNAME"] + ":" + environ["PGRENDER_PATRONI_PASSWORD"]
        self.headers = {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}
        # host:port, as each member's certificate names it; the pod name is the first label.
        self.members = {host.split(".")[0]: host for host in environ["PGRENDER_PATRONI_MEMBERS"].split()}

    def call(self, member: str, method: str, path: str, body: Any = None, timeout: float = 10) -> tuple[int, Any]:
        """(HTTP status, body parsed as JSON when it is JSON); OSError when the member does not answer."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"https://{self.members[member]}{path}", data, dict(self.headers), method=method
        )
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace").strip()

    def any_member(self, method: str, path: str, body: Any = None) -> Any:
        """The answer of the first member that answers 200."""
        errors = []
        for member in self.members:
            try:
                status, answer = self.call(member, method, path, body)
            except OSError as error:
                errors.append(f"{member}: {error}")
                continue
            if status == 200:
                return answer
            errors.append(f"{member}: HTTP {status} {answer}")
        raise Stop("no Patroni member answered " + path + ": " + "; ".join(errors))

    def cluster(self) -> dict[str, dict[str, Any]]:
        """GET /cluster: member name -> its entry (role, state, lag, pending_restart, ...)."""
        return {m["name"]: m for m in self.any_member("GET", "/cluster").get("members", [])}

    def streaming(self, leader: str) -> set[str]:
        """The members the leader's PostgreSQL streams to (GET /patroni on the leader)."""
        try:
            status, answer = self.call(leader, "GET", "/patroni")
        except OSError:
            return set()
        if status != 200 or not isinstance(answer, dict):
            return set()
        return {r.get("application_name") for r in answer.get("replication", []) if r.get("state") == "streaming"}


def configure(patroni: Patroni, path: str) -> None:
    with open(path, encoding="utf-8") as file:
        desired = json.load(file)
    error: Exception | None = None
    for _ in range(60):
        for member in patroni.members:
            try:
                status, current = patroni.call(member, "GET", "/config")
                if status == 200 and current == desired:
                    log("patroni dynamic configuration: unchanged")
                    return
                status, answer = patroni.call(member, "PUT", "/config", desired)
                if status != 200:
                    raise Stop(f"PUT /config on {member}: HTTP {status} {answer}")
                log("patroni dynamic configuration: updated")
                with open(CHANGED_MARK, "w", encoding="utf-8") as mark:
                    mark.write(str(time.time()))
                return
            except OSError as exc:
                error = exc
        time.sleep(5)
    raise Stop(f"no Patroni member answered: {error}")


# --------------------------------------------------------------------------------------------
# The Kubernetes API
# --------------------------------------------------------------------------------------------


class Kubernetes:
    """The namespace's member StatefulSets and pods, as the Job's service account may see them."""

    def __init__(self, environ: dict[str, str]) -> None:
        host = environ["KUBERNETES_SERVICE_HOST"]
        host = f"[{host}]" if ":" in host else host
        self.base = f"https://{host}:{environ['KUBERNETES_SERVICE_PORT']}"
        self.context = ssl.create_default_context(cafile=f"{SERVICE_ACCOUNT}/ca.crt")
        with open(f"{SERVICE_ACCOUNT}/namespace", encoding="utf-8") as file:
            self.namespace = file.read().strip()

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        with open(f"{SERVICE_ACCOUNT}/token", encoding="utf-8") as file:  # projected tokens are renewed
            token = file.read().strip()
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                return error.code, json.loads(raw)
            except ValueError:
                return error.code, {"message": raw.decode(errors="replace")}

    def _object(self, path: str, what: str) -> dict[str, Any] | None:
        status, answer = self.call("GET", path)
        if status == 404:
            return None
        if status != 200:
            raise Stop(f"reading {what}: HTTP {status}: {answer.get('message', answer)}")
        result: dict[str, Any] = answer
        return result

    def statefulset(self, name: str) -> dict[str, Any] | None:
        path = f"/apis/apps/v1/namespaces/{self.namespace}/statefulsets/{name}"
        return self._object(path, f"StatefulSet {name}")

    def pod(self, name: str) -> dict[str, Any] | None:
        return self._object(f"/api/v1/namespaces/{self.namespace}/pods/{name}", f"pod {name}")

    def delete_pod(self, name: str, uid: str) -> None:
        """Delete exactly this incarnation of the pod (a precondition on its uid)."""
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": uid}}
        status, answer = self.call("DELETE", f"/api/v1/namespaces/{self.namespace}/pods/{name}", body)
        if status not in (200, 202, 404):
            raise Stop(f"deleting pod {name}: HTTP {status}: {answer.get('message', answer)}")


def revision(obj: dict[str, Any] | None, *template: str) -> str | None:
    node: Any = obj or {}
    for key in (*template, "metadata", "annotations"):
        node = node.get(key) or {}
    value = node.get(TEMPLATE_DIGEST)
    return str(value) if value is not None else None


# --------------------------------------------------------------------------------------------
# The rollout
# --------------------------------------------------------------------------------------------


class Rollout:
    def __init__(
        self, patroni: Patroni, kube: Kubernetes, revisions: dict[tuple[str, str], str], args: argparse.Namespace
    ) -> None:
        self.patroni = patroni
        self.kube = kube
        self.pods = {pod: statefulset for statefulset, pod in revisions}  # one pod per StatefulSet
        self.revisions = {statefulset: wanted for (statefulset, _), wanted in revisions.items()}
        self.max_lag = int(args.max_lag_bytes)
        self.timeout = float(args.step_timeout)
        self.loop_wait = float(args.loop_wait)
        self.restarted: set[str] = set()  # members restarted through Patroni by this run

    def wait(self, what: str, probe: Any, timeout: float | None = None) -> Any:
        """Poll ``probe`` until it returns something true; Stop with ``what`` and its last word."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        last = None
        while True:
            result, last = probe()
            if result:
                return result
            if time.monotonic() > deadline:
                raise Stop(f"{what}: not so after {int(self.timeout if timeout is None else timeout)}s ({last})")
            time.sleep(POLL_SECONDS)

    # -- state ---------------------------------------------------------------------------------

    def outdated(self, pod: str) -> bool:
        """The pod is gone or was made from an older template than this Job's."""
        return revision(self.kube.pod(pod)) != self.revisions[self.pods[pod]]

    def leader(self, cluster: dict[str, dict[str, Any]]) -> str | None:
        leaders = [name for name, m in cluster.items() if m.get("role") in LEADER_ROLES]
        return leaders[0] if len(leaders) == 1 else None

    def healthy(self, name: str, cluster: dict[str, dict[str, Any]], streaming: set[str]) -> str | None:
        """None when the member is running (and, not being the leader, streams within the lag bound); else why not."""
        member = cluster.get(name)
        if member is None:
            return f"{name} is not a member (Patroni does not run)"
        if member.get("state") != "running":
            return f"{name} is {member.get('state') or 'in an unknown state'}"
        if member.get("role") in LEADER_ROLES:
            return None
        if name not in streaming:
            return f"{name} does not stream from the leader"
        lag = member.get("lag")
        if not isinstance(lag, int) or lag > self.max_lag:
            return f"{name} lags {lag} bytes (at most {self.max_lag})"
        return None

    def others_healthy(self, target: str) -> None:
        """Wait until every member but ``target`` is up and streaming; never take down a second one."""

        def probe() -> tuple[bool, str]:
            cluster = self.patroni.cluster()
            leader = self.leader(cluster)
            if leader is None:
                return False, "no leader"
            streaming = self.patroni.streaming(leader)
            problems = [p for p in (self.healthy(pod, cluster, streaming) for pod in self.pods if pod != target) if p]
            return not problems, "; ".join(problems)

        self.wait(f"before taking {target} down, every other member up and streaming", probe)

    def back(self, name: str, leader_wanted: bool = False, replaced: bool = True) -> None:
        """Wait until ``name`` is up and (a replica) streams within the bound, and, when it was
        ``replaced``, runs its current template."""

        def probe() -> tuple[bool, str]:
            if replaced and self.outdated(name):
                return False, f"pod {name} is not yet made from the new template"
            try:
                cluster = self.patroni.cluster()
            except Stop as stop:
                # The only member's new pod runs before its Patroni answers: no member answers
                # for a while, which is what this waits for, not a reason to stop.
                return False, str(stop)
            leader = self.leader(cluster)
            if leader is None:
                return False, "no leader"
            if leader_wanted and leader != name:
                return False, f"{leader} leads"
            problem = self.healthy(name, cluster, self.patroni.streaming(leader))
            return problem is None, problem or ""

        self.wait(f"{name} back, running and streaming", probe)
        log(f"{name}: back and streaming")

    # -- steps ---------------------------------------------------------------------------------

    def replace(self, pod: str, leader_wanted: bool = False) -> None:
        current = self.kube.pod(pod)
        if current is not None and revision(current) != self.revisions[self.pods[pod]]:
            log(f"{pod}: deleting the pod; StatefulSet {self.pods[pod]} makes it anew from the new template")
            self.kube.delete_pod(pod, current["metadata"]["uid"])
        self.back(pod, leader_wanted)

    def restart(self, pod: str, leader_wanted: bool = False) -> None:
        log(f"{pod}: restarting PostgreSQL through Patroni (a setting needs a restart)")

        def restarted() -> tuple[bool, str]:
            status, answer = self.patroni.call(pod, "POST", "/restart", {}, timeout=self.timeout)
            # 503 while Patroni is busy with the member (a demotion finishing): ask again.
            if status == 503:
                return False, f"HTTP 503: {answer}"
            if status != 200:
                raise Stop(f"{pod}: POST /restart answered HTTP {status}: {answer}")
            return True, ""

        self.wait(f"{pod} restarted by Patroni", restarted)
        self.restarted.add(pod)
        self.back(pod, leader_wanted, replaced=False)

    def update(self, pod: str, cluster: dict[str, dict[str, Any]], leader_wanted: bool = False) -> bool:
        """Replace or restart ``pod`` if it needs it; whether it did."""
        if self.outdated(pod):
            self.replace(pod, leader_wanted)
        elif cluster.get(pod, {}).get("pending_restart"):
            self.restart(pod, leader_wanted)
        else:
            return False
        return True

    def switchover(self, leader: str, target: str | None = None) -> str:
        """Hand the leader role to ``target``, or an up-to-date replica; return the new leader."""

        def candidate() -> tuple[str | None, str]:
            cluster = self.patroni.cluster()
            streaming = self.patroni.streaming(leader)
            ready = [n for n in self.pods if n != leader and self.healthy(n, cluster, streaming) is None]
            # Patroni accepts only the synchronous standby in synchronous mode; prefer it anyway.
            ready.sort(key=lambda n: (cluster[n].get("role") != "sync_standby", cluster[n].get("lag", 0), n))
            sync = self.patroni.any_member("GET", "/config").get("synchronous_mode")
            if sync:
                if target is not None and target in ready and cluster[target].get("role") != "sync_standby":
                    raise Stop(f"in synchronous mode Patroni hands over only to the synchronous standby, not {target}")
                ready = [n for n in ready if cluster[n].get("role") == "sync_standby"]
            if target is not None:
                return (target if target in ready else None), f"{target} up and streaming within the lag bound"
            return (ready[0] if ready else None), "no replica up, streaming and (in synchronous mode) synchronous"

        chosen = str(self.wait(f"a replica to switch over to from {leader}", candidate))
        log(f"{leader}: switchover to {chosen}")
        status, answer = self.patroni.call(
            leader, "POST", "/switchover", {"leader": leader, "candidate": chosen}, timeout=self.timeout
        )
        if status != 200:
            raise Stop(f"switchover from {leader} to {chosen}: HTTP {status}: {answer}")

        def switched() -> tuple[bool, str]:
            cluster = self.patroni.cluster()
            return self.leader(cluster) == chosen and cluster[chosen].get("state") == "running", str(
                {n: (m.get("role"), m.get("state")) for n, m in cluster.items()}
            )

        self.wait(f"{chosen} leading after the switchover", switched)
        log(f"{chosen}: leads")
        return chosen

    def one_pass(self) -> bool:
        """Update every member that needs it, leader last; whether anything was done."""
        done = False
        try:
            cluster = self.patroni.cluster()
        except Stop:
            if len(self.pods) > 1:
                raise
            # The only member's Patroni does not answer (its pod crashes with an older template,
            # say): it is down, and replacing it is the way out. With more members, no answer at
            # all may be the Job's own network: it stops rather than take down members that run.
            cluster = {}
        # Down and older than their template: replacing them takes nothing down that is up.
        for pod in sorted(self.pods):
            if self.outdated(pod) and cluster.get(pod, {}).get("state") != "running":
                log(f"{pod}: down and older than its template")
                self.replace(pod)
                done = True
        cluster = self.patroni.cluster()
        leader = self.leader(cluster)
        if leader is None:
            raise Stop("no member leads: the rollout takes nothing down without a leader")
        replicas = sorted(
            (n for n in self.pods if n != leader), key=lambda n: (cluster.get(n, {}).get("role") == "sync_standby", n)
        )
        for pod in replicas:
            if self.outdated(pod) or self.patroni.cluster().get(pod, {}).get("pending_restart"):
                self.others_healthy(pod)
                done |= self.update(pod, self.patroni.cluster())
        if not (self.outdated(leader) or self.patroni.cluster().get(leader, {}).get("pending_restart")):
            return done
        if not replicas:
            log(f"{leader}: the only member; restarting it takes the cluster down until it is back")
            return self.update(leader, self.patroni.cluster(), leader_wanted=True) or done
        if not self.outdated(leader):
            # A standby must run max_connections, max_worker_processes, max_wal_senders,
            # max_prepared_transactions and max_locks_per_transaction at least as high as its
            # primary, so Patroni keeps a lowered value off the replicas until the primary runs it:
            # replicas restarted by this run that still need a restart say so. No switchover helps
            # (the new primary would run the old value too): the primary restarts in place.
            time.sleep(self.loop_wait + 1)
            cluster = self.patroni.cluster()
            if any(cluster.get(n, {}).get("pending_restart") and n in self.restarted for n in replicas):
                log(
                    f"{leader}: a lowered setting replicas can take only after the primary: restarting the "
                    "primary in place (writes wait while PostgreSQL restarts), then the replicas"
                )
                self.restart(leader, leader_wanted=True)
                return True
        self.others_healthy(leader)
        self.switchover(leader)
        # The old leader comes back as a replica (Patroni restarted it to demote it, so it may no
        # longer need a restart); its Patroni reports its new state within a loop.
        self.back(leader, replaced=False)
        time.sleep(self.loop_wait + 1)
        self.others_healthy(leader)
        self.update(leader, self.patroni.cluster())
        return True

    def settle(self) -> None:
        """After `configure` changed the configuration, let every member's Patroni apply it (one
        loop each) and report what needs a restart (the loop after)."""
        try:
            with open(CHANGED_MARK, encoding="utf-8") as mark:
                changed = float(mark.read())
        except (OSError, ValueError):
            return
        left = changed + 2 * self.loop_wait + 1 - time.time()
        if left > 0:
            log(f"waiting {left:.0f}s for every member to apply the new configuration")
            time.sleep(left)

    def applied(self) -> None:
        """Wait until every member StatefulSet carries this Job's template revision."""
        for statefulset, wanted in sorted(self.revisions.items()):

            def probe(statefulset: str = statefulset, wanted: str = wanted) -> tuple[bool, str]:
                found = revision(self.kube.statefulset(statefulset), "spec", "template")
                return found == wanted, f"it carries {found}"

            self.wait(
                f"StatefulSet {statefulset} with template revision {wanted} (apply the rendered output as a "
                "whole; a newer revision is rolled by its own Job)",
                probe,
            )

    def run(self) -> None:
        self.applied()
        self.settle()
        for _ in range(3):  # a second pass when a lowered setting could only apply after the switchover
            if not self.one_pass():
                log("every member runs its current template and settings")
                return
        raise Stop("members still need a restart after three passes: " + json.dumps(self.patroni.cluster()))


class Record:
    """Table pgrender.switchovers in database postgres, through psql: run, leader, done."""

    CREATE = (
        "CREATE SCHEMA IF NOT EXISTS pgrender; CREATE TABLE IF NOT EXISTS pgrender.switchovers "
        "(run integer PRIMARY KEY, leader text NOT NULL, done_at timestamptz)"
    )

    def __init__(self, psql: str, timeout: float) -> None:
        self.psql = psql
        self.timeout = timeout

    def sql(self, query: str) -> str:
        """Run ``query`` on the primary (PG* variables); retried while the primary Service reaches a
        member that is no longer (or not yet) the primary, right after a switchover."""
        command = [self.psql, "--no-psqlrc", "--tuples-only", "--no-align", "--dbname=postgres"]
        deadline = time.monotonic() + self.timeout
        while True:
            done = subprocess.run(
                [*command, "--set=ON_ERROR_STOP=1", "--command", query], capture_output=True, text=True
            )
            if done.returncode == 0:
                return done.stdout.strip()
            if time.monotonic() > deadline:
                raise Stop(f"psql: {done.stderr.strip()}")
            time.sleep(POLL_SECONDS)

    def started(self, run: int, leader: str) -> tuple[str, bool]:
        """The leader run ``run`` started from (recorded now when it is new), and whether it is done."""
        if not MEMBER_NAME.match(leader):  # a pod's name: it goes into SQL text
            raise Stop(f"the leader's name {leader!r} is not a pod name")
        self.sql(self.CREATE)
        self.sql(
            f"INSERT INTO pgrender.switchovers (run, leader) VALUES ({run}, '{leader}') ON CONFLICT (run) DO NOTHING"
        )
        row = self.sql(f"SELECT leader, done_at IS NOT NULL FROM pgrender.switchovers WHERE run = {run}")
        recorded, _, done = row.partition("|")
        return recorded, done == "t"

    def done(self, run: int) -> None:
        self.sql(f"UPDATE pgrender.switchovers SET done_at = pg_catalog.now() WHERE run = {run}")


def planned_switchover(rollout: Rollout, record: Record, run: int, target: str | None) -> None:
    """spec.patroni.switchover: once for ``run``, to ``target`` or an up-to-date replica."""
    leader = rollout.leader(rollout.patroni.cluster())
    if leader is None:
        raise Stop("no member leads: no switchover without a leader")
    started_from, done = record.started(run, leader)
    if done:
        log(f"switchover {run}: made before (table pgrender.switchovers); not again")
        return
    if leader != started_from:
        log(f"switchover {run}: {started_from} led when it started, {leader} leads now: made")
    elif target == leader:
        log(f"switchover {run}: {target} leads already")
    else:
        rollout.others_healthy(leader)
        rollout.switchover(leader, target)
    record.done(run)


def parse_revisions(environ: dict[str, str]) -> dict[tuple[str, str], str]:
    """PGRENDER_MEMBER_REVISIONS: (statefulset, pod) -> template revision."""
    out = {}
    for item in environ.get("PGRENDER_MEMBER_REVISIONS", "").split():
        members, _, wanted = item.partition("=")
        statefulset, _, pod = members.partition("/")
        out[(statefulset, pod)] = wanted
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="members.py")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("configure").add_argument("file")
    roll = commands.add_parser("roll")
    switchover = commands.add_parser("switchover")
    for command in (roll, switchover):
        command.add_argument("--loop-wait", required=True)
        command.add_argument("--max-lag-bytes", required=True)
        command.add_argument("--step-timeout", required=True)
    switchover.add_argument("--run", type=int, required=True)
    switchover.add_argument("--target")
    switchover.add_argument("--psql", required=True)
    args = parser.parse_args(argv)
    environ = dict(os.environ)
    try:
        patroni = Patroni(environ)
        if args.command == "configure":
            configure(patroni, args.file)
        elif args.command == "roll":
            Rollout(patroni, Kubernetes(environ), parse_revisions(environ), args).run()
        else:
            rollout = Rollout(patroni, Kubernetes(environ), parse_revisions(environ), args)
            planned_switchover(rollout, Record(args.psql, float(args.step_timeout)), args.run, args.target)
    except Stop as stop:
        log(f"{args.command} stopped: {stop}")
        log("the cluster keeps serving with the members that are up; the Job's next attempt carries on from here")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
