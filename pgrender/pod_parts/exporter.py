"""postgres_exporter beside PostgreSQL in every member's pod (spec.monitoring).

It connects as the monitoring role (pg_monitor) to its own member, under the pod's name, which the
server certificate carries and the pod's /etc/hosts maps to the pod's own address: verify-full
against the cluster CA, and pg_hba's ``samehost`` admits the role from nowhere else
(plan/patroni.py). Only DATA_SOURCE_URI, DATA_SOURCE_USER and DATA_SOURCE_PASS_FILE and the flags
--web.listen-address and --extend.query-path are used: Debian 12's 0.11.1 reads them, and so do
current releases (where the last is deprecated, not gone).
"""

from __future__ import annotations

from pgrender.plan import ClusterPlan, InstancePlan, defaults, hosts, secret_keys
from pgrender.pod import Manifest, PodPart, container_security_context

CONTAINER = "exporter"
VOLUME = "exporter"
PASSWORD_FILE = "password"


def exporter_volume(plan: ClusterPlan) -> Manifest:
    """The CA (of the server certificate's Secret), the role's password and the queries: one
    projected volume, nothing else of the pod's Secrets (the server key stays out of reach)."""
    monitoring = plan.monitoring
    server = plan.tls.server.secret
    assert monitoring is not None and server is not None
    return {
        "name": VOLUME,
        "projected": {
            "defaultMode": defaults.SECRET_FILE_MODE,
            "sources": [
                {"secret": {"name": server.name, "items": [{"key": server.ca, "path": secret_keys.CA_CERT}]}},
                {"secret": {"name": monitoring.name, "items": [{"key": secret_keys.PASSWORD, "path": PASSWORD_FILE}]}},
                {
                    "configMap": {
                        "name": monitoring.name,
                        "items": [{"key": secret_keys.EXPORTER_QUERIES, "path": secret_keys.EXPORTER_QUERIES}],
                    }
                },
            ],
        },
    }


def data_source_uri(plan: ClusterPlan, instance: InstancePlan) -> str:
    """host:port/database?options, as postgres_exporter reads DATA_SOURCE_URI (it adds the
    user and password); lib/pq takes libpq's TLS options."""
    monitoring = plan.monitoring
    assert monitoring is not None
    host = hosts.pod_dns_forms(instance.pod, plan.names.pods_service, plan.namespace, plan.domain)[0]
    ca = f"{monitoring.directory}/{secret_keys.CA_CERT}"
    return f"{host}:{plan.port}/postgres?sslmode={hosts.CLIENT_SSLMODE}&sslrootcert={ca}&application_name={CONTAINER}"


def exporter_container(plan: ClusterPlan, instance: InstancePlan) -> Manifest:
    monitoring = plan.monitoring
    assert monitoring is not None
    return {
        "name": CONTAINER,
        "image": monitoring.image,
        "command": [defaults.EXPORTER_PROGRAM],
        "args": [
            f"--web.listen-address=:{defaults.EXPORTER_PORT}",
            f"--extend.query-path={monitoring.directory}/{secret_keys.EXPORTER_QUERIES}",
        ],
        "env": [
            {"name": "DATA_SOURCE_URI", "value": data_source_uri(plan, instance)},
            {"name": "DATA_SOURCE_USER", "value": monitoring.user},
            {"name": "DATA_SOURCE_PASS_FILE", "value": f"{monitoring.directory}/{PASSWORD_FILE}"},
        ],
        "ports": [{"containerPort": defaults.EXPORTER_PORT, "name": defaults.EXPORTER_PORT_NAME, "protocol": "TCP"}],
        "resources": monitoring.resources,
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": VOLUME, "mountPath": monitoring.directory, "readOnly": True}],
    }


def database_exporter(plan: ClusterPlan, instance: InstancePlan) -> PodPart:
    if plan.monitoring is None:
        return PodPart()
    return PodPart(volumes=(exporter_volume(plan),), containers=(exporter_container(plan, instance),))
