"""The TLS reloader: a sidecar that makes the processes of its pod reload certificates renewed in
the cluster, with no restart.

With a TLS provider whose certificates change in the cluster (cert-manager renews them, a person
replaces an existing Secret; pgrender.tls ``in_cluster``), kubelet updates the files of the mounted
Secret volumes in place (projected volumes, never subPath mounts: those are never updated). Every
program here reads the certificate files themselves, not copies, and reloads them on SIGHUP:

- PostgreSQL re-reads ssl_cert_file, ssl_key_file and ssl_ca_file on a reload (PostgreSQL 10+);
- Patroni, on SIGHUP, reloads PostgreSQL (``pg_ctl reload`` whatever changed, since Patroni 1.6.1)
  and its REST API's certificate when the file's serial number changed (Patroni 2.1.0+;
  ``reload_local_certificate``); the REST API's cafile is read again with it;
- pgBouncer re-reads client_tls_* and server_tls_* files on SIGHUP (RELOAD);
- pgBackRest's TLS server reloads its configuration and certificates on SIGHUP (2.38+);
- libpq reads a client certificate at each connection (replication, the Jobs): nothing to do.

The sidecar shares the pod's process namespace (shareProcessNamespace: true) and runs as the same
user, so it may signal them. Every ``every`` seconds it digests the files under the directories it
watches; when they changed and each certificate matches its key (kubelet swaps a volume's files at
once, but a person may write a Secret's keys one by one), it sends SIGHUP to each target process:
the one whose command line ends with the program's name and the arguments given (``patroni
/etc/patroni``), that catches SIGHUP (a process that does not yet would die of it), and whose
parent is not a target too (pgBackRest's forked workers). A target not running yet keeps the
reload pending. It needs python3 from spec.image (the image contract).

With ``derived`` no sidecar runs: a new certificate comes with a render, and the rollout digests
replace the pods.
"""

from __future__ import annotations

import posixpath

from pgrender.plan import ClusterPlan, ContainerKind, InstancePlan, defaults
from pgrender.pod import Manifest, PodPart, container_resources, container_security_context

CONTAINER = "tls-reload"
EVERY_SECONDS = 10
SHARE_PROCESS_NAMESPACE = ("shareProcessNamespace", True)

# The watcher, run as `python3 -c SCRIPT EVERY DIR... -- PROGRAM ARG... [-- PROGRAM ARG...]`.
# Paths only come as arguments: the text holds none of the pod's mount points.
SCRIPT = """\
import hashlib, os, signal, ssl, sys, time

HUP = 1 << (signal.SIGHUP - 1)


def log(message):
    print("tls-reload: " + message, flush=True)


def walk(directory):
    for root, dirs, names in os.walk(directory, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        yield root, sorted(n for n in names if not n.startswith("."))


def digest(watched):
    h = hashlib.sha256()
    for directory in watched:
        for root, names in walk(directory):
            for name in names:
                with open(os.path.join(root, name), "rb") as f:
                    h.update(os.path.join(root, name).encode() + b"\\0" + hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def mismatch(watched):
    for directory in watched:
        for root, names in walk(directory):
            if "tls.crt" in names and "tls.key" in names:
                try:
                    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                    context.load_cert_chain(os.path.join(root, "tls.crt"), os.path.join(root, "tls.key"))
                except (OSError, ssl.SSLError) as e:
                    return "%s: %s" % (root, e)
    return None


def processes():
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    argv = [a.decode("utf-8", "replace") for a in f.read().split(b"\\0")]
                with open("/proc/%s/stat" % entry) as f:
                    ppid = int(f.read().rpartition(")")[2].split()[1])
                with open("/proc/%s/status" % entry) as f:
                    caught = [line.split()[1] for line in f if line.startswith("SigCgt:")]
            except (OSError, ValueError, IndexError):
                continue
            catches = bool(caught and int(caught[0], 16) & HUP)
            yield int(entry), ppid, argv[:-1] if argv and not argv[-1] else argv, catches


def targets(program, args):
    found = {}
    for pid, ppid, argv, catches in processes():
        i = len(argv) - len(args) - 1
        if i >= 0 and os.path.basename(argv[i]) == program and argv[i + 1:] == args:
            found[pid] = (ppid, catches)
    return [pid for pid, (ppid, catches) in sorted(found.items()) if catches and ppid not in found]


def main(argv):
    every, groups = float(argv[0]), [[]]
    for arg in argv[1:]:
        if arg == "--":
            groups.append([])
        else:
            groups[-1].append(arg)
    watched, programs = groups[0], [(g[0], g[1:]) for g in groups[1:] if g]
    log("watching %s for %s" % (" ".join(watched), ", ".join(" ".join([p, *a]) for p, a in programs)))
    last, pending = None, []
    while True:
        try:
            now = digest(watched)
        except OSError as e:
            log("cannot read the certificates yet: %s" % e)
            now = last
        if last is not None and now != last:
            log("certificates changed")
            pending = list(programs)
        last = now
        problem = mismatch(watched) if pending else None
        if problem:
            log("waiting for a certificate to match its key: " + problem)
        elif pending:
            left = []
            for program, args in pending:
                pids = targets(program, args)
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGHUP)
                        log("sent SIGHUP to %s (pid %d)" % (program, pid))
                    except OSError as e:
                        log("cannot signal %s (pid %d): %s" % (program, pid, e))
                        pids = []
                if not pids:
                    log("%s is not running yet; trying again" % program)
                    left.append((program, args))
            pending = left
        time.sleep(every)


main(sys.argv[1:])
"""


def reloader(plan: ClusterPlan, mounts: list[Manifest], watched: list[str], targets: list[list[str]]) -> Manifest:
    """The sidecar, in spec.image (its python3): it watches ``watched`` (mount points of ``mounts``)
    and signals each target, a program's name and the arguments its command line ends with."""
    command = ["python3", "-c", SCRIPT, str(EVERY_SECONDS), *watched]
    for target in targets:
        command += ["--", *target]
    return {
        "name": CONTAINER,
        "image": plan.image,
        "command": command,
        "resources": container_resources(plan.resources[ContainerKind.TLS_RELOAD]),
        "securityContext": container_security_context(),
        "volumeMounts": [{**m, "readOnly": True} for m in mounts],
    }


def program_name(command: str) -> str:
    """How a process started as ``command`` (a name on PATH or an absolute path) shows in its argv."""
    return posixpath.basename(command)


def database_tls_reload(plan: ClusterPlan, instance: InstancePlan) -> PodPart:
    """In a database pod: Patroni (which reloads PostgreSQL) and, with backups, pgBackRest's server."""
    if not plan.tls.reload:
        return PodPart()
    from pgrender.pod_parts.patroni_config import patroni_config
    from pgrender.pod_parts.server_tls import server_tls

    mounts = [*server_tls(plan, instance).mounts, *patroni_config(plan, instance).mounts]
    targets = [[program_name(plan.patroni_command), defaults.PATRONI_CONFIG_DIR]]
    if plan.backups and plan.backups.repos:
        targets.append([program_name(plan.backups.program), "server"])
    return PodPart(
        containers=(reloader(plan, mounts, [defaults.TLS_DIR], targets),),
        pod_fields=(SHARE_PROCESS_NAMESPACE,),
    )
