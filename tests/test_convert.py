"""pgrender convert: operators' custom resources to specs, a note for every field not carried over,
exit codes 0/1/2, and every converted golden spec renders."""

from __future__ import annotations

import copy
import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from click.testing import Result as ClickResult

from pgrender.cli import cli
from pgrender.convert import CONVERTERS, converter
from pgrender.convert.base import NoteKind
from pgrender.convert.engine import Result, convert
from pgrender.errors import Problem, SpecError
from pgrender.load import load_text
from tests.conftest import GOLDEN_KEY, ROOT, run_cli
from tests.golden_cases import convert_cases

PGO = "apiVersion: postgres-operator.crunchydata.com/v1beta1\nkind: PostgresCluster\n"
ZALANDO = "apiVersion: acid.zalan.do/v1\nkind: postgresql\n"
CNPG = "apiVersion: postgresql.cnpg.io/v1\nkind: Cluster\n"
PGO_BASE = """
metadata: {name: hippo, namespace: db}
spec:
  postgresVersion: 16
  instances:
    - name: instance1
      dataVolumeClaimSpec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
      resources: {limits: {memory: 1Gi}}
"""
ZALANDO_BASE = """
metadata: {name: acid-hippo, namespace: db}
spec:
  teamId: acid
  numberOfInstances: 2
  volume: {size: 1Gi}
  postgresql: {version: "16"}
  users: {app: []}
  resources: {limits: {memory: 1Gi}}
"""
CNPG_BASE = """
metadata: {name: hippo, namespace: db}
spec:
  instances: 3
  imageName: ghcr.io/cloudnative-pg/postgresql:16.4
  storage: {size: 1Gi}
  resources: {limits: {memory: 1Gi}}
"""
BASES = {"pgo": PGO + PGO_BASE, "zalando": ZALANDO + ZALANDO_BASE, "cnpg": CNPG + CNPG_BASE}


def convert_cli(cwd: Path, *args: str, stdin: str | None = None) -> ClickResult:
    """`pgrender convert ARGS` run in ``cwd``, so messages name files as given."""
    before = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, ["convert", *args], input=stdin, catch_exceptions=False)
    finally:
        os.chdir(before)


def run(operator: str, text: str) -> Result:
    return convert(load_text(textwrap.dedent(text), "in.yaml"), operator)


def merged(operator: str, extra: str) -> str:
    """The base document of ``operator`` with ``extra`` (YAML) merged into it, key by key; documents
    after the first of ``extra`` (companions) follow it."""
    base = yaml.safe_load(BASES[operator])
    first, *others = yaml.safe_load_all(textwrap.dedent(extra))
    _merge(base, first or {})
    return "---\n".join(yaml.safe_dump(doc, sort_keys=False) for doc in (base, *others))


def cnpg_pooler(pgbouncer: str, kind: str = "rw") -> str:
    """A second document: a Pooler of the CloudNativePG base cluster with ``pgbouncer`` (YAML flow)."""
    return (
        "\n---\napiVersion: postgresql.cnpg.io/v1\nkind: Pooler\n"
        f"metadata: {{name: hippo-pooler-{kind}, namespace: db}}\n"
        f"spec: {{cluster: {{name: hippo}}, type: {kind}, instances: 3, pgbouncer: {pgbouncer}}}\n"
    )


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def at(data: Any, path: str) -> Any:
    """The value at the dotted ``path``; None where its last key is absent."""
    *parents, last = path.split(".")
    for part in parents:
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data[int(last)] if isinstance(data, list) else data.get(last)


# Input fragment → what the spec holds (dotted path, value).
S3_REPO = "repos: [{name: repo1, s3: {bucket: bkt, endpoint: s3.example.com, region: r}, schedules: {full: '@daily'}}]"
# A standby of PGO's encrypted repository (PGO's passphrase, repo1-cipher-pass, is in its configuration Secret).
# PGO's restore of a new cluster from a repository, with pgBackRest's restore options ({}).
CLOUD_RESTORE = (
    "spec: {{dataSource: {{pgbackrest: {{stanza: db, repo: {{name: repo1, s3: {{bucket: bkt, endpoint: s3.example.com, "
    "region: r}}}}, options: [{}]}}}}}}"
)
ENCRYPTED = (
    "spec: {backups: {pgbackrest: {global: {repo1-cipher-type: aes-256-cbc}, repos: [{name: repo1, s3: {bucket: "
    "bkt, endpoint: s3.example.com, region: r}}]}}, standby: {enabled: true, repoName: repo1}}"
)
# A GCS repository whose bucket pgrender refuses (no '_' in bucket names), its retention and its Jobs' placement.
BAD_GCS = (
    "spec: {backups: {pgbackrest: {global: {repo1-retention-full: '7'}, jobs: {priorityClassName: high}, "
    "repos: [{name: repo1, gcs: {bucket: my_bucket}, schedules: {full: '@daily'}}]}}}"
)


def old_at(host: str, name: str = "old", **fields: str) -> str:
    """CloudNativePG's externalClusters with one entry, ``name``, reached at ``host``, and other fields
    (YAML flow) of the entry; a standby or a copy names it as its source."""
    more = "".join(f", {key}: {value}" for key, value in fields.items())
    return (
        f"externalClusters: [{{name: {name}, connectionParameters: {{host: '{host}', user: streaming_replica}}{more}}}]"
    )


# A copy (bootstrap.pg_basebackup) and a standby (replica) of CloudNativePG's external cluster old.
COPY_OF = "spec: {{bootstrap: {{pg_basebackup: {{source: old}}}}, {}}}"
STANDBY_OF = "spec: {{replica: {{enabled: true, source: old}}, bootstrap: {{pg_basebackup: {{source: old}}}}, {}}}"

CARRIED = [
    ("pgo", "spec: {port: 5433}", "spec.port", 5433),
    ("pgo", "spec: {postgresVersion: 12}", "spec.postgresVersion", 14),
    ("pgo", "spec: {metadata: {labels: {team: db}}}", "metadata.labels", {"team": "db"}),
    (
        "pgo",
        "spec: {instances: [{name: a, replicas: 3, dataVolumeClaimSpec: {storageClassName: ssd, "
        "resources: {requests: {storage: 5Gi}}}, walVolumeClaimSpec: {resources: {requests: {storage: 1Gi}}}}]}",
        "spec.instances.0",
        {
            "name": "a",
            "replicas": 3,
            "dataVolume": {"size": "5Gi", "storageClassName": "ssd"},
            "walVolume": {"size": "1Gi"},
        },
    ),
    (
        "pgo",
        "spec: {instances: [{name: a, dataVolumeClaimSpec: {resources: {requests: {storage: 1Gi}}}, "
        "affinity: {podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{topologyKey: zone, "
        "labelSelector: {matchLabels: {postgres-operator.crunchydata.com/cluster: hippo}}}]}}}]}",
        "spec.instances.0.scheduling.podAntiAffinity",
        {"type": "required", "topologyKey": "zone", "scope": "cluster"},
    ),
    ("pgo", "spec: {users: [{name: rhino, databases: [zoo], options: 'SUPERUSER NOLOGIN'}]}", "spec.users.0",
     {"name": "rhino", "databases": ["zoo"], "options": {"superuser": True, "login": False}}),
    ("pgo", "spec: {patroni: {dynamicConfiguration: {synchronous_mode: true}}}", "spec.patroni.synchronousMode", True),
    ("pgo", "spec: {patroni: {dynamicConfiguration: {postgresql: {pg_hba: ['host all all 0.0.0.0/0 md5']}}}}",
     "spec.patroni.pgHBA", ["hostssl all all 0.0.0.0/0 scram-sha-256"]),
    ("pgo", "spec: {config: {parameters: {work_mem: 4MB}}}", "spec.patroni.parameters", {"work_mem": "4MB"}),
    ("pgo", "spec: {authentication: {rules: [{connection: hostssl, method: scram-sha-256, users: [app]}]}}",
     "spec.patroni.pgHBA", ["hostssl all app all scram-sha-256"]),
    ("pgo", "spec: {service: {type: NodePort, nodePort: 30432}}", "spec.service",
     {"type": "NodePort", "nodePort": 30432}),
    ("pgo", "spec: {proxy: {pgBouncer: {replicas: 2, config: {global: {pool_mode: transaction}}}}}",
     "spec.proxy.pgBouncer", {"replicas": 2, "poolMode": "transaction"}),
    ("pgo", "spec: {proxy: {pgBouncer: {config: {global: {max_prepared_statements: '0', pool_mode: transaction}}}}}",
     "spec.proxy.pgBouncer", {"poolMode": "transaction", "maxPreparedStatements": 0}),
    ("pgo", "spec: {proxy: {pgBouncer: {replicas: 2, config: {global: {max_client_conn: '10', pool_mode: session}}}}}",
     "spec.proxy.pgBouncer", {"replicas": 2, "poolMode": "session"}),
    ("cnpg", "{}" + cnpg_pooler("{poolMode: session, parameters: {max_client_conn: '5', default_pool_size: '10'}}"),
     "spec.proxy.pgBouncer", {"replicas": 3, "poolMode": "session", "defaultPoolSize": 10}),
    ("pgo", "spec: {patroni: {leaderLeaseDurationSeconds: 10, syncPeriodSeconds: 10}}", "spec.patroni",
     {"syncPeriodSeconds": 10}),
    ("pgo", "spec: {proxy: {pgBouncer: {affinity: {podAntiAffinity: {preferredDuringSchedulingIgnoredDuringExecution: "
     "[{weight: 50, podAffinityTerm: {topologyKey: zone, labelSelector: {matchLabels: "
     "{postgres-operator.crunchydata.com/cluster: hippo, postgres-operator.crunchydata.com/role: pgbouncer}}}}]}}}}}",
     "spec.proxy.pgBouncer.scheduling.podAntiAffinity", {"type": "preferred", "topologyKey": "zone", "weight": 50}),
    (
        "pgo",
        "spec: {backups: {pgbackrest: {global: {repo1-retention-full: '7', repo1-s3-key-type: auto}, "
        "repos: [{name: repo1, s3: {bucket: b-1, endpoint: minio.local:9000, region: us-east-1}, "
        "schedules: {full: '0 1 * * *'}}]}}}",
        "spec.backups.repos.0",
        {
            "name": "repo1",
            "s3": {"bucket": "b-1", "endpoint": "minio.local", "region": "us-east-1", "port": 9000, "keyType": "auto"},
            "schedules": {"full": "0 1 * * *"},
            "retention": {"full": 7},
        },
    ),
    ("pgo", "spec: {openshift: true}", "spec.openshift", True),
    ("pgo", "spec: {shutdown: true}", "spec.shutdown", True),
    ("zalando", "spec: {numberOfInstances: 0}", "spec.shutdown", True),
    ("zalando", "spec: {numberOfInstances: 0}", "spec.instances.0.replicas", 1),
    ("cnpg", "metadata: {annotations: {cnpg.io/hibernation: 'on'}}", "spec.shutdown", True),
    ("cnpg", "metadata: {annotations: {cnpg.io/hibernation: 'off'}}", "spec.shutdown", None),
    ("pgo", "spec: {standby: {enabled: true, host: other-primary.db.svc, port: 5432}}", "spec.standby",
     {"fromCluster": {"cluster": "other", "namespace": "db", "port": 5432}, "enabled": True}),
    ("zalando", "{}", "metadata.labels", {"team": "acid"}),
    ("zalando", "spec: {users: {app: [createdb, nologin]}, databases: {shop: app}}", "spec.users",
     [{"name": "app", "databases": ["shop"], "options": {"createdb": True, "login": False}}]),
    ("zalando", "spec: {enableMasterLoadBalancer: true}", "spec.service",
     {"type": "LoadBalancer", "loadBalancerSourceRanges": ["127.0.0.1/32"]}),
    ("zalando", "spec: {enableConnectionPooler: true}", "spec.proxy.pgBouncer",
     {"replicas": 2, "poolMode": "transaction", "maxClientConnections": 10000}),
    ("zalando", "spec: {enableReplicaConnectionPooler: true}", "spec.proxy",
     {"pgBouncerReplicas": {"replicas": 2, "poolMode": "transaction", "maxClientConnections": 10000}}),
    ("zalando", "spec: {enableConnectionPooler: true, enableReplicaConnectionPooler: true, connectionPooler: "
     "{numberOfInstances: 3, mode: session}}", "spec.proxy.pgBouncerReplicas",
     {"replicas": 3, "poolMode": "session", "maxClientConnections": 10000}),
    ("zalando", "spec: {enableReplicaConnectionPooler: true, enableReplicaPoolerLoadBalancer: true}",
     "spec.proxy.pgBouncerReplicas.service", {"type": "LoadBalancer", "loadBalancerSourceRanges": ["127.0.0.1/32"]}),
    ("zalando", "spec: {enableConnectionPooler: true, enableReplicaConnectionPooler: false}", "spec.proxy",
     {"pgBouncer": {"replicas": 2, "poolMode": "transaction", "maxClientConnections": 10000}}),
    ("cnpg", "{}" + cnpg_pooler("{poolMode: transaction}", "ro"), "spec.proxy",
     {"pgBouncerReplicas": {"replicas": 3, "poolMode": "transaction"}}),
    # A Pooler's serviceTemplate: the fields pgrender's service has, a LoadBalancer's source ranges too.
    ("cnpg", "{}" + cnpg_pooler("{}", "ro").replace("}}\n", "}, serviceTemplate: {spec: {type: LoadBalancer, "
     "loadBalancerSourceRanges: [10.0.0.0/8], externalTrafficPolicy: Local}}}\n"),
     "spec.proxy.pgBouncerReplicas.service",
     {"type": "LoadBalancer", "loadBalancerSourceRanges": ["10.0.0.0/8"], "externalTrafficPolicy": "Local"}),
    ("cnpg", "{}" + cnpg_pooler("{poolMode: session}", "ro") + cnpg_pooler("{poolMode: transaction}"), "spec.proxy",
     {"pgBouncerReplicas": {"replicas": 3, "poolMode": "session"},
      "pgBouncer": {"replicas": 3, "poolMode": "transaction"}}),
    ("zalando", "spec: {patroni: {ttl: 40, loop_wait: 15, synchronous_mode: true}}", "spec.patroni",
     {"leaderLeaseDurationSeconds": 40, "syncPeriodSeconds": 15, "synchronousMode": True}),
    ("zalando", "spec: {dockerImage: 'ghcr.io/zalando/spilo-16:3.3-p3', spiloFSGroup: 103}", "spec.imageContract",
     {"fsGroup": 103}),
    ("zalando", "spec: {standby: {standby_host: acid-source.db, standby_port: '5433'}}", "spec.standby.fromCluster",
     {"cluster": "acid-source", "namespace": "db", "port": 5433}),
    ("zalando", "spec: {standby: {standby_host: db.eu.example.com, standby_port: '6432'}}", "spec.standby.fromCluster",
     {"cluster": "acid-hippo-source", "host": "db.eu.example.com", "port": 6432}),
    ("zalando", "spec: {clone: {cluster: acid-source}}", "spec.bootstrap", {"fromCluster": {"cluster": "acid-source"}}),
    ("zalando", "spec: {clone: {cluster: acid-source, timestamp: ''}}", "spec.bootstrap.fromCluster",
     {"cluster": "acid-source"}),
    ("pgo", "spec: {standby: {enabled: true, host: 10.0.0.5, port: 6432}}", "spec.standby",
     {"fromCluster": {"cluster": "hippo-source", "host": "10.0.0.5", "port": 6432}, "enabled": True}),
    ("cnpg", COPY_OF.format(old_at("old-rw")), "spec.bootstrap", {"fromCluster": {"cluster": "old"}}),
    ("cnpg", COPY_OF.format(old_at("old-rw.db.svc.cluster.local")), "spec.bootstrap.fromCluster",
     {"cluster": "old", "namespace": "db"}),
    ("cnpg", COPY_OF.format(old_at("db.eu.example.com").replace("user:", "port: '6432', user:")),
     "spec.bootstrap.fromCluster", {"cluster": "old", "host": "db.eu.example.com", "port": 6432}),
    ("cnpg", COPY_OF.format(old_at("db.eu.example.com", name="hippo")).replace("source: old", "source: hippo"),
     "spec.bootstrap.fromCluster", {"cluster": "hippo-source", "host": "db.eu.example.com"}),
    ("cnpg", STANDBY_OF.format(old_at("old-rw.db")), "spec.standby.fromCluster", {"cluster": "old", "namespace": "db"}),
    ("cnpg", STANDBY_OF.format(old_at("10.0.0.5")), "spec.standby.fromCluster", {"cluster": "old", "host": "10.0.0.5"}),
    ("cnpg", STANDBY_OF.format(old_at("old-rw")).replace("enabled: true", "enabled: false"), "spec.standby",
     {"fromCluster": {"cluster": "old"}, "enabled": False}),
    ("cnpg", STANDBY_OF.format(old_at("old-rw")).replace("enabled: true", "primary: old, self: hippo"), "spec.standby",
     {"fromCluster": {"cluster": "old"}}),
    ("cnpg", STANDBY_OF.format(old_at("old-rw")).replace("enabled: true", "primary: hippo"), "spec.bootstrap",
     {"fromCluster": {"cluster": "old"}}),
    ("cnpg", "{}", "spec.users", [{"name": "app", "databases": ["app"]}]),
    ("cnpg", "spec: {bootstrap: {initdb: {database: shop, owner: shopper}}}", "spec.databases",
     [{"name": "shop", "owner": "shopper"}]),
    ("cnpg", "spec: {bootstrap: {recovery: {source: old, database: shop, owner: shopper}}, managed: {roles: "
     "[{name: reporter, login: true}]}}", "spec.users.0", {"name": "shopper", "databases": ["shop"]}),
    ("cnpg", "spec: {bootstrap: {pg_basebackup: {source: old, database: shop}}}", "spec.databases",
     [{"name": "shop", "owner": "shop"}]),
    ("cnpg", "spec: {bootstrap: {recovery: {source: old, secret: {name: app-secret}}}}", "spec.users",
     [{"name": "app", "databases": ["app"]}]),
    ("cnpg", "spec: {imageCatalogRef: {apiGroup: postgresql.cnpg.io, kind: ImageCatalog, name: pg, major: 15}}",
     "spec.postgresVersion", 15),
    ("cnpg", "spec: {managed: {roles: [{name: app, superuser: true, login: true}]}}", "spec.users.0.options",
     {"login": True, "superuser": True}),
    ("cnpg", "spec: {managed: {roles: [{name: app, inRoles: [pg_monitor]}]}}", "spec.users.0.inRoles", ["pg_monitor"]),
    ("cnpg", "spec: {managed: {roles: [{name: ro, login: true, inRoles: [app]}]}}", "spec.users.1",
     {"name": "ro", "options": {"login": True}, "inRoles": ["app"]}),
    ("cnpg", "spec: {affinity: {enablePodAntiAffinity: false}}", "spec.instances.0.scheduling.podAntiAffinity",
     {"type": "none"}),
    ("cnpg", "spec: {postgresql: {synchronous: {method: any, number: 1}}}", "spec.patroni",
     {"synchronousMode": True, "synchronousModeStrict": True}),
    ("cnpg", "spec: {certificates: {serverAltDNSNames: [db.example.com]}}", "spec.tls.extraSANs", ["db.example.com"]),
    ("cnpg", "spec: {managed: {services: {disabledDefaultServices: [ro]}}}", "spec.replicaService", {"enabled": False}),
    ("pgo", "spec: {databaseInitSQL: {name: hippo-init-sql, key: init.sql}}", "spec.databaseInitSQL",
     {"name": "hippo-init-sql", "key": "init.sql"}),
    ("cnpg", "spec: {imagePullSecrets: [{name: regcred}]}", "spec.imagePullSecrets", ["regcred"]),
    ("cnpg", "spec: {serviceAccountTemplate: {metadata: {annotations: {eks.amazonaws.com/role-arn: 'arn:aws:iam::1:"
     "role/db'}}}}", "spec.serviceAccountTemplate", {"metadata": {"annotations": {
         "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/db"}}}),
    ("cnpg", "spec: {storage: {size: 2Gi, pvcTemplate: {storageClassName: ssd}}}", "spec.instances.0.dataVolume",
     {"size": "2Gi", "storageClassName": "ssd"}),
    ("cnpg", "spec: {postgresql: {synchronous: {method: any, number: 2}}}", "spec.patroni",
     {"synchronousMode": True, "synchronousModeStrict": True, "dynamicConfiguration": {"synchronous_node_count": 2}}),
    ("cnpg", "spec: {maxSyncReplicas: 2}", "spec.patroni",
     {"synchronousMode": True, "dynamicConfiguration": {"synchronous_node_count": 2}}),
    ("pgo", f"spec: {{backups: {{pgbackrest: {{{S3_REPO}, jobs: {{priorityClassName: low, tolerations: [{{key: b, "
     "operator: Exists}], affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: "
     "{nodeSelectorTerms: [{matchExpressions: [{key: pool, operator: In, values: [batch]}]}]}}}}}}}",
     "spec.backups.jobs.scheduling",
     {"priorityClassName": "low", "tolerations": [{"key": "b", "operator": "Exists"}], "nodeAffinity": {
         "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [
             {"key": "pool", "operator": "In", "values": ["batch"]}]}]}}}),
    ("pgo", CLOUD_RESTORE.format("--type=name, --target=before-upgrade"), "spec.bootstrap.fromBackup.targetName",
     "before-upgrade"),
    ("pgo", CLOUD_RESTORE.format("'--type=lsn --target=0/3000060'"), "spec.bootstrap.fromBackup.targetLsn",
     "0/3000060"),
    ("pgo", CLOUD_RESTORE.format("--type=xid, --target=1234"), "spec.bootstrap.fromBackup.targetXid", 1234),
    ("pgo", CLOUD_RESTORE.format("--type=immediate, --set=20261128-011500F"),
     "spec.bootstrap.fromBackup.targetImmediate", True),
    ("pgo", CLOUD_RESTORE.format("--type=immediate, --set=20261128-011500F"), "spec.bootstrap.fromBackup.backupSet",
     "20261128-011500F"),
    ("pgo", f"spec: {{backups: {{pgbackrest: {{{S3_REPO}, global: {{process-max: '4'}}}}}}}}",
     "spec.backups.processMax", 4),
    ("pgo", f"spec: {{backups: {{pgbackrest: {{{S3_REPO}, global: {{compress-type: zst}}}}}}}}",
     "spec.backups.compressType", "zst"),
    ("pgo", f"spec: {{backups: {{pgbackrest: {{{S3_REPO}, global: {{backup-standby: y}}}}}}}}",
     "spec.backups.backupFrom", "prefer-standby"),
    ("pgo", f"spec: {{backups: {{pgbackrest: {{{S3_REPO}, repoHost: {{priorityClassName: high}}}}}}}}",
     "spec.backups.repoHost.scheduling", {"priorityClassName": "high"}),
    ("pgo", f"spec: {{backups: {{pgbackrest: {{{S3_REPO}, metadata: {{labels: {{team: dba}}}}}}}}}}",
     "spec.backups.metadata", {"labels": {"team": "dba"}}),
]  # fmt: skip


@pytest.mark.parametrize(("operator", "extra", "path", "expected"), CARRIED)
def test_carried(operator: str, extra: str, path: str, expected: Any) -> None:
    result = run(operator, merged(operator, extra))
    assert at(result.clusters[0].spec, path) == expected


# Input fragment → the note it gets: (path, kind, words in the message).
NOTED = [
    ("pgo", "spec: {image: crunchy-postgres:16}", "spec.image", NoteKind.LEFT_OUT, "Image contract"),
    ("pgo", "spec: {postgresVersion: 12}", "spec.postgresVersion", NoteKind.CHANGED, "not 12"),
    ("pgo", "spec: {someNewField: 1}", "spec.someNewField", NoteKind.LEFT_OUT, "no pgrender equivalent"),
    ("pgo", "spec: {customTLSSecret: {name: hippo-tls}}", "spec.customTLSSecret", NoteKind.LEFT_OUT,
     "spec.tls.provider existing takes your Secrets"),
    ("pgo", "spec: {databaseInitSQL: {name: hippo-init-sql, key: init.sql}}", "spec.databaseInitSQL",
     NoteKind.CHANGED, "in a cluster that holds PGO's data (restored from its backups, or a standby promoted)"),
    ("pgo", "spec: {users: [{name: app, options: 'VALID UNTIL 2030'}]}", "spec.users[0].options", NoteKind.LEFT_OUT,
     "'VALID UNTIL 2030'"),
    ("pgo", "spec: {users: [{name: postgres}]}", "spec.users[0]", NoteKind.LEFT_OUT, "client certificate"),
    ("pgo", "spec: {patroni: {dynamicConfiguration: {postgresql: {parameters: {ssl: 'off'}}}}}",
     "spec.patroni.dynamicConfiguration.postgresql.parameters.ssl", NoteKind.LEFT_OUT, "pgrender refuses it"),
    ("pgo", "spec: {patroni: {dynamicConfiguration: {postgresql: {pg_hba: ['local all all trust']}}}}",
     "spec.patroni.dynamicConfiguration.postgresql.pg_hba[0]", NoteKind.LEFT_OUT, "trust"),
    ("pgo", "spec: {dataSource: {postgresCluster: {clusterName: gone, repoName: repo1}}}",
     "spec.dataSource.postgresCluster", NoteKind.LEFT_OUT, "same run"),
    ("pgo", "spec: {backups: {pgbackrest: {manual: {repoName: repo1}, repos: [{name: repo1, volume: {volumeClaimSpec: "
     "{resources: {requests: {storage: 1Gi}}}}}]}}}", "spec.backups.pgbackrest.manual", NoteKind.LEFT_OUT, "annotated"),
    ("pgo", "spec: {backups: {pgbackrest: {restore: {enabled: true, repoName: repo1}, repos: [{name: repo1, volume: "
     "{volumeClaimSpec: {resources: {requests: {storage: 1Gi}}}}}]}}}", "spec.backups.pgbackrest.restore",
     NoteKind.LEFT_OUT, "add spec.restore {repo, run, target} when you mean it"),
    ("pgo", "metadata: {uid: 1234}", "metadata.uid", NoteKind.IGNORED, "API server"),
    ("pgo", "status: {postgresVersion: 16}", "status", NoteKind.IGNORED, "operator"),
    ("zalando", "spec: {users: {ns.app: []}}", "spec.users.ns.app", NoteKind.CHANGED, "also in namespace ns"),
    ("zalando", "spec: {enableLogicalBackup: true}", "spec.enableLogicalBackup", NoteKind.LEFT_OUT,
     "backups.logical"),
    ("zalando", "spec: {clone: {cluster: acid-source, timestamp: '2017-12-19T12:40:33+01:00'}}", "spec.clone",
     NoteKind.LEFT_OUT, "WAL-G"),
    ("zalando", "spec: {clone: {cluster: acid-source}}", "spec.clone", NoteKind.CHANGED,
     "the source must be rendered by pgrender with the same root key (as cluster acid-source)"),
    ("zalando", "spec: {clone: {cluster: acid-source}}", "spec.clone", NoteKind.CHANGED, "Spilo upgrades a clone"),
    ("zalando", "spec: {clone: {cluster: acid-source, uid: efd12e58}}", "spec.clone.uid", NoteKind.LEFT_OUT,
     "only for a clone from the WAL archive"),
    ("zalando", "spec: {clone: {cluster: acid-hippo}}", "spec.clone", NoteKind.LEFT_OUT, "copied from itself"),
    ("zalando", "spec: {standby: {standby_host: 10.0.0.5}}", "spec.standby.standby_host", NoteKind.CHANGED,
     "Zalando names no cluster there, and pgrender derives the source's CA and passwords for the cluster "
     "spec.standby.fromCluster.cluster names: the spec says acid-hippo-source"),
    ("zalando", "spec: {standby: {standby_host: 10.0.0.5, standby_port: x}}", "spec.standby.standby_port",
     NoteKind.LEFT_OUT, "'x' is not a port number"),
    ("pgo", "spec: {standby: {enabled: true, host: db.eu.example.com}}", "spec.standby.host", NoteKind.CHANGED,
     "PGO names no cluster there"),
    ("cnpg", COPY_OF.format(old_at("old-rw")), "spec.bootstrap.pg_basebackup.source", NoteKind.CHANGED,
     "a copy of cluster old's primary (spec.bootstrap.fromCluster)"),
    ("cnpg", COPY_OF.format(old_at("db.eu.example.com")), "spec.bootstrap.pg_basebackup.source", NoteKind.CHANGED,
     "CloudNativePG names the source only by its externalClusters entry (old), so pgrender's spec names the "
     "cluster after it, old, in this cluster's namespace"),
    ("cnpg", COPY_OF.format(old_at("old-ro")), "spec.bootstrap.pg_basebackup.source", NoteKind.CHANGED,
     "old-ro names no primary Service <cluster>-rw of this Kubernetes cluster"),
    ("cnpg", COPY_OF.format(old_at("db.eu.example.com", name="hippo")).replace("source: old", "source: hippo"),
     "spec.bootstrap.pg_basebackup.source", NoteKind.CHANGED, "hippo-source (hippo is this cluster)"),
    ("cnpg", COPY_OF.format(old_at("*.example.com")), "spec.bootstrap.pg_basebackup.source", NoteKind.LEFT_OUT,
     "goes with its source's host (spec.externalClusters[0].connectionParameters.host), which pgrender refuses"),
    ("cnpg", COPY_OF.format(old_at("old-rw")).replace("source: old", "source: gone"),
     "spec.bootstrap.pg_basebackup.source", NoteKind.LEFT_OUT, "no externalClusters entry gone"),
    ("cnpg", STANDBY_OF.format(old_at("old-rw")), "spec.replica", NoteKind.CHANGED,
     "a standby of cluster old (spec.standby.fromCluster)"),
    ("cnpg", STANDBY_OF.format(old_at("old-rw")), "spec.externalClusters[0].connectionParameters.user",
     NoteKind.LEFT_OUT, "_pgrender_repl"),
    ("cnpg", STANDBY_OF.format(old_at("old-rw", sslKey="{name: old-replication, key: tls.key}")),
     "spec.externalClusters[0].sslKey", NoteKind.LEFT_OUT, "a client certificate of the source's CA"),
    ("cnpg", STANDBY_OF.format(old_at("old-rw", barmanObjectStore="{destinationPath: 's3://old'}")),
     "spec.externalClusters[0].barmanObjectStore", NoteKind.LEFT_OUT, "streams from the host only"),
    ("cnpg", STANDBY_OF.format("externalClusters: [{name: old, barmanObjectStore: {destinationPath: 's3://old'}}]"),
     "spec.replica", NoteKind.LEFT_OUT, "externalClusters entry old has no connectionParameters.host"),
    ("cnpg", STANDBY_OF.format("externalClusters: [{name: old, barmanObjectStore: {destinationPath: 's3://old'}}]"),
     "spec.externalClusters[0]", NoteKind.LEFT_OUT, "Barman archive"),
    ("cnpg", STANDBY_OF.format("externalClusters: [{name: old, barmanObjectStore: {destinationPath: 's3://old'}}]")
     .replace("enabled: true", "enabled: false"), "spec.replica", NoteKind.LEFT_OUT, "it runs as a primary"),
    ("cnpg", "spec: {" + old_at("old-rw") + "}", "spec.externalClusters[0]", NoteKind.LEFT_OUT,
     "nothing carried names this one"),
    ("cnpg", STANDBY_OF.format(old_at("old-rw")).replace("enabled: true", "primary: hippo"), "spec.replica",
     NoteKind.LEFT_OUT, "the primary of its distributed topology"),
    ("cnpg", STANDBY_OF.format(old_at("old-rw")).replace("enabled: true", "primary: old"), "spec.replica.primary",
     NoteKind.LEFT_OUT, "pgrender has no distributed topology: this cluster is a standby of old"),
    ("cnpg", STANDBY_OF.format(old_at("old-rw")).replace("enabled: true", "minApplyDelay: 1h"),
     "spec.replica.minApplyDelay", NoteKind.LEFT_OUT, "replays the WAL as it comes"),
    ("cnpg", STANDBY_OF.format(old_at("old-rw")).replace("source: old}}, e", "source: new}}, e"),
     "spec.bootstrap.pg_basebackup.source", NoteKind.LEFT_OUT, "a standby starts as a copy of the source it follows"),
    ("zalando", "spec: {numberOfInstances: 0}", "spec.numberOfInstances", NoteKind.CHANGED,
     "shutdown is true, with 1 instance when it starts again"),
    ("cnpg", "metadata: {annotations: {cnpg.io/hibernation: 'on', team: a}}", "metadata.annotations.team",
     NoteKind.LEFT_OUT, "annotations of the custom resource itself"),
    ("zalando", "spec: {users: null}", "spec", NoteKind.CHANGED, "named after the cluster"),
    ("cnpg", "spec: {backup: {retentionPolicy: 30d}}", "spec.backup", NoteKind.LEFT_OUT, "Barman"),
    ("cnpg", "spec: {managed: {roles: [{name: gone, ensure: absent}]}}", "spec.managed.roles[0]", NoteKind.LEFT_OUT,
     "never drops"),
    ("cnpg", "spec: {imageName: null}", "spec", NoteKind.CHANGED, "PostgreSQL 18"),
    ("zalando", "spec: {postgresql: {parameters: {password_encryption: md5}}}",
     "spec.postgresql.parameters.password_encryption", NoteKind.LEFT_OUT, "managed by pgrender"),
    ("pgo", "spec: {config: {parameters: {port: '5432'}}, port: 5433}", "spec.config.parameters.port",
     NoteKind.LEFT_OUT, "managed by pgrender"),
    ("pgo", ENCRYPTED, "spec.backups.pgbackrest.global.repo1-cipher-type", NoteKind.CHANGED,
     "secrets provider existing, PGO's passphrase as key source-cipher-pass of Secret hippo-pgbackrest"),
    ("pgo", ENCRYPTED.replace("standby: {enabled: true, repoName: repo1}", "dataSource: {pgbackrest: {stanza: db, "
     "repo: {name: repo1, s3: {bucket: bkt, endpoint: s3.example.com, region: r}}, global: {repo1-cipher-type: "
     "aes-256-cbc}}}"), "spec.dataSource.pgbackrest.global.repo1-cipher-type", NoteKind.CHANGED,
     "_pgrender_pgbackrest entry (property repo1) under the source's namespace and name"),
    ("pgo", BAD_GCS, "spec.backups.pgbackrest.repos[0]", NoteKind.LEFT_OUT,
     "pgrender refuses its gcs: spec.backups.repos[0].gcs.bucket: 'my_bucket' is not a bucket name"),
    ("pgo", BAD_GCS, "spec.backups.pgbackrest.global.repo1-retention-full", NoteKind.LEFT_OUT,
     "goes with repo1 (spec.backups.pgbackrest.repos[0]), which pgrender refuses"),
    ("pgo", BAD_GCS, "spec.backups.pgbackrest.jobs", NoteKind.LEFT_OUT, "goes with the repositories pgrender refuses"),
    ("pgo", "spec: {instances: [{name: a, dataVolumeClaimSpec: {resources: {requests: {storage: 1Gi}}}}]}",
     "spec.instances[0]", NoteKind.CHANGED, "no memory limit: PGO sets none; pgrender's default applies: 1Gi"),
    ("pgo", "spec: {instances: [{name: a, resources: {requests: {memory: 4Gi}}, dataVolumeClaimSpec: {resources: "
     "{requests: {storage: 1Gi}}}}]}", "spec.instances[0].resources", NoteKind.CHANGED, "the memory request, 4Gi"),
    ("zalando", "spec: {resources: null}", "spec", NoteKind.CHANGED, "operator configuration (default_memory_limit)"),
    ("zalando", "spec: {resources: {limits: {memory: null}, requests: {memory: 100Mi}}}", "spec.resources",
     NoteKind.CHANGED, "pgrender's default applies: 1Gi"),
    ("cnpg", "spec: {resources: null}", "spec", NoteKind.CHANGED, "CloudNativePG sets none; pgrender's default"),
    ("pgo", "spec: {proxy: {pgBouncer: {replicas: 1}}}", "spec.proxy.pgBouncer", NoteKind.CHANGED,
     "no memory limit: PGO sets none; pgrender's default applies: 128Mi, and the pgbouncer container"),
    ("cnpg", "{}" + cnpg_pooler("{}"), "spec", NoteKind.CHANGED,  # the Pooler's spec: no template
     "CloudNativePG sets none; pgrender's default applies: 128Mi, and the pgbouncer container"),
    ("zalando", "spec: {enableConnectionPooler: true}", "spec.connectionPooler", NoteKind.CHANGED,
     "operator configuration (connection_pooler_default_memory_limit); pgrender's default applies: 128Mi"),
    ("pgo", "spec: {proxy: {pgBouncer: {config: {global: {max_client_conn: '10'}}}}}",
     "spec.proxy.pgBouncer.config.global.max_client_conn", NoteKind.LEFT_OUT, "below defaultPoolSize 20"),
    ("cnpg", "{}" + cnpg_pooler("{parameters: {max_client_conn: '5', default_pool_size: '10'}}"),
     "spec.pgbouncer.parameters.max_client_conn", NoteKind.LEFT_OUT, "below defaultPoolSize 10"),
    ("zalando", "spec: {enableReplicaPoolerLoadBalancer: true}", "spec.enableReplicaPoolerLoadBalancer",
     NoteKind.LEFT_OUT, "the replica pooler is not enabled (enableReplicaConnectionPooler)"),
    ("zalando", "spec: {enableConnectionPooler: false, connectionPooler: {mode: session}}", "spec.connectionPooler",
     NoteKind.LEFT_OUT, "not enabled (enableConnectionPooler, enableReplicaConnectionPooler)"),
    ("zalando", "spec: {enableReplicaConnectionPooler: true, connectionPooler: {maxDBConnections: 60}}",
     "spec.connectionPooler.maxDBConnections", NoteKind.CHANGED, "max_db_connections of each pgBouncer: 30"),
    ("cnpg", "{}" + cnpg_pooler("{poolMode: session}", "r"), "spec", NoteKind.LEFT_OUT,
     "a pooler of type 'r': pgrender's pgBouncers serve the primary (rw) or the replicas (ro)"),
    ("cnpg", "{}" + cnpg_pooler("{poolMode: session}", "ro") + cnpg_pooler("{poolMode: session}", "ro"), "spec",
     NoteKind.LEFT_OUT, "pgrender runs one pgBouncer per cluster for the replicas"),
    ("cnpg", "spec: {managed: {services: {disabledDefaultServices: [ro]}}}" + cnpg_pooler("{}", "ro"), "spec",
     NoteKind.LEFT_OUT, "spec.replicaService.enabled: false leaves out"),
    ("cnpg", "spec: {bootstrap: {recovery: {source: old, owner: shopper}}}", "spec.bootstrap.recovery.source",
     NoteKind.LEFT_OUT, "Barman"),
    ("cnpg", "spec: {bootstrap: {recovery: {source: old}}}", "spec.bootstrap.recovery", NoteKind.LEFT_OUT, "Barman"),
    ("pgo", f"spec: {{backups: {{pgbackrest: {{{S3_REPO}, jobs: {{ttlSecondsAfterFinished: 60}}}}}}}}",
     "spec.backups.pgbackrest.jobs.ttlSecondsAfterFinished", NoteKind.LEFT_OUT, "keeps finished backup Jobs"),
    ("pgo", f"spec: {{backups: {{pgbackrest: {{{S3_REPO}, repoHost: {{resources: {{limits: {{cpu: 1}}}}}}}}}}}}",
     "spec.backups.pgbackrest.repoHost.resources", NoteKind.LEFT_OUT, "spec.backups.resources"),
    ("pgo", f"spec: {{backups: {{pgbackrest: {{{S3_REPO}, repoHost: {{affinity: {{podAntiAffinity: {{x: 1}}}}}}}}}}}}",
     "spec.backups.pgbackrest.repoHost.affinity.podAntiAffinity", NoteKind.LEFT_OUT, "by nodes only"),
    ("pgo", f"spec: {{backups: {{pgbackrest: {{{S3_REPO}, global: {{backup-standby: y}}}}}}}}",
     "spec.backups.pgbackrest.global.backup-standby", NoteKind.CHANGED, "backs up from the primary then"),
    ("pgo", CLOUD_RESTORE.format("--type=lsn, --target=somewhere"), "spec.dataSource.pgbackrest.options",
     NoteKind.LEFT_OUT, "a WAL location (lsn)"),
    ("pgo", CLOUD_RESTORE.format("--set=latest"), "spec.dataSource.pgbackrest.options", NoteKind.LEFT_OUT,
     "'latest' is not a backup's label"),
    ("pgo", f"spec: {{backups: {{pgbackrest: {{{S3_REPO}, global: {{compress-type: xz}}}}}}}}",
     "spec.backups.pgbackrest.global.compress-type", NoteKind.LEFT_OUT, "one of gz, lz4, zst, bz2, none"),
    ("pgo", f"spec: {{backups: {{pgbackrest: {{{S3_REPO}, global: {{process-max: '0'}}}}}}}}",
     "spec.backups.pgbackrest.global.process-max", NoteKind.LEFT_OUT, "from 1 to 64"),
]  # fmt: skip


@pytest.mark.parametrize(("operator", "extra", "path", "kind", "words"), NOTED)
def test_noted(operator: str, extra: str, path: str, kind: NoteKind, words: str) -> None:
    result = run(operator, merged(operator, extra))
    found = [n for n in result.notes if n.path == path]
    assert found, [f"{n.path}: {n.kind}: {n.message}" for n in result.notes]
    assert found[0].kind is kind and words in found[0].message, found[0]
    assert found[0].line > 0 and found[0].file == "in.yaml"


# Input fragment → a field (and what is in it) taken without a note: a parameter pgrender manages, set to the value
# it writes; the copy a CloudNativePG replica cluster starts from, which pgrender's standby takes of its source itself.
QUIET = [
    ("cnpg", STANDBY_OF.format(old_at("old-rw")), "spec.bootstrap.pg_basebackup"),
    ("cnpg", "spec: {postgresql: {parameters: {wal_level: logical}}}", "spec.postgresql.parameters.wal_level"),
    ("pgo", "spec: {config: {parameters: {ssl: 'true'}}}", "spec.config.parameters.ssl"),
    ("pgo", "spec: {port: 5433, config: {parameters: {port: '5433'}}}", "spec.config.parameters.port"),
    ("pgo", "spec: {patroni: {dynamicConfiguration: {postgresql: {parameters: {wal_level: Logical}}}}}",
     "spec.patroni.dynamicConfiguration.postgresql.parameters.wal_level"),
    ("zalando", "spec: {postgresql: {parameters: {password_encryption: scram-sha-256}}}",
     "spec.postgresql.parameters.password_encryption"),
]  # fmt: skip


@pytest.mark.parametrize(("operator", "extra", "path"), QUIET)
def test_quiet(operator: str, extra: str, path: str) -> None:
    result = run(operator, merged(operator, extra))
    assert [f"{n.kind}: {n.message}" for n in result.notes if n.path == path or n.path.startswith(path + ".")] == []
    assert path.rpartition(".")[2] not in result.clusters[0].spec["spec"].get("patroni", {}).get("parameters", {})


def test_naming_profile_keeps_the_apps_names() -> None:
    for operator in CONVERTERS:
        assert run(operator, BASES[operator]).clusters[0].spec["spec"]["naming"] == operator


def test_a_complete_conversion_has_no_notes_and_exits_0() -> None:
    result = run("pgo", BASES["pgo"])
    assert result.notes == () and result.exit_code == 0


def test_ignored_notes_do_not_count() -> None:
    result = run("pgo", BASES["pgo"] + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    assert [n.kind for n in result.notes] == [NoteKind.IGNORED] and result.exit_code == 0


def test_every_field_of_the_input_is_carried_or_noted() -> None:
    """A field no converter knows, anywhere, is noted: nothing is dropped silently."""
    for operator, path in (
        ("pgo", "spec.instances[0].dataVolumeClaimSpec.volumeMode"),
        ("zalando", "spec.volume.volumeMode"),
        ("cnpg", "spec.storage.volumeMode"),
    ):
        extra = {
            "pgo": "spec: {instances: [{name: instance1, dataVolumeClaimSpec: {volumeMode: Block, "
            "resources: {requests: {storage: 1Gi}}}, resources: {limits: {memory: 1Gi}}}]}",
            "zalando": "spec: {volume: {size: 1Gi, volumeMode: Block}}",
            "cnpg": "spec: {storage: {size: 1Gi, volumeMode: Block}}",
        }[operator]
        before = {n.path for n in run(operator, BASES[operator]).notes}
        notes = run(operator, merged(operator, extra)).notes
        assert [n.path for n in notes if n.path not in before] == [path], notes


def test_companions_join_their_cluster() -> None:
    pooler = """
apiVersion: postgresql.cnpg.io/v1
kind: Pooler
metadata: {name: hippo-pooler, namespace: db}
spec: {cluster: {name: hippo}, instances: 3, pgbouncer: {poolMode: transaction}}
"""
    result = run("cnpg", BASES["cnpg"] + "---" + pooler)
    assert result.clusters[0].spec["spec"]["proxy"]["pgBouncer"] == {"replicas": 3, "poolMode": "transaction"}
    alone = run("cnpg", BASES["cnpg"] + "---" + pooler.replace("name: hippo}", "name: other}"))
    assert "proxy" not in alone.clusters[0].spec["spec"]
    assert any("not among the inputs" in n.message for n in alone.notes)


def test_a_pooler_pgrender_refuses_is_one_note(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Pooler left out whole is noted at its spec; its name (the Service's) is not also noted as unknown."""
    from pgrender.convert import engine

    real = engine.check

    def check(data: dict[str, Any]) -> tuple[Problem, ...]:
        refused = Problem("<converted>", 0, 0, "spec.proxy.pgBouncer", "refused by this test")
        return (*real(data), *((refused,) if "proxy" in data["spec"] else ()))

    monkeypatch.setattr(engine, "check", check)
    notes = run("cnpg", merged("cnpg", "{}" + cnpg_pooler("{poolMode: session}"))).notes
    assert [(n.path, n.message) for n in notes if n.path in ("spec", "metadata.name")] == [
        ("spec", "pgrender refuses it: spec.proxy.pgBouncer: refused by this test")
    ]


def test_registry_lists_every_converter() -> None:
    for name in CONVERTERS:
        conv = converter(name)
        assert conv.name == name and conv.naming in ("pgo", "zalando", "cnpg")
        assert conv.versions and conv.cluster_kind and conv.group


# Bad input: exit 2, a positioned message, nothing written -------------------------------------

BAD = [
    ("pgo", "- apiVersion: x\n", "in.yaml:1:1: expected a mapping (a PostgresCluster document), found a list"),
    ("pgo", PGO.replace("PostgresCluster", "PostgresClustr") + PGO_BASE,
     "in.yaml:2:1: kind: 'PostgresClustr' is not a kind of postgres-operator.crunchydata.com"),
    ("pgo", PGO.replace("v1beta1", "v2") + PGO_BASE,
     "in.yaml:1:1: apiVersion: postgres-operator.crunchydata.com/v2: expected "
     "postgres-operator.crunchydata.com/v1beta1 or postgres-operator.crunchydata.com/v1 for a PostgresCluster"),
    ("pgo", ZALANDO + ZALANDO_BASE,
     "in.yaml:1:1: apiVersion: acid.zalan.do/v1 is Zalando postgres-operator's, not Crunchy PGO's: convert it with "
     "--from zalando"),
    ("cnpg", PGO + PGO_BASE, "in.yaml:1:1: apiVersion: postgres-operator.crunchydata.com/v1beta1 is Crunchy PGO's"),
    ("pgo", "kind: PostgresCluster\nmetadata: {name: x}\n", "in.yaml:1:1: apiVersion: required field is missing"),
    ("pgo", PGO + "metadata: {name: hippo}\nspec: {postgresVersion: 16}\n",
     "in.yaml:4:1: spec.instances: required field is missing"),
    ("pgo", PGO + PGO_BASE.replace("storage: 1Gi", "storage: 1 Gi"),
     "in.yaml:9:82: spec.instances[0].dataVolumeClaimSpec.resources.requests.storage: expected a Kubernetes quantity"),
    ("zalando", ZALANDO + ZALANDO_BASE.replace("numberOfInstances: 2", "numberOfInstances: two"),
     "in.yaml:7:3: spec.numberOfInstances: expected a whole number, found a string\n"),
    ("zalando", ZALANDO + ZALANDO_BASE.replace("numberOfInstances: 2", "numberOfInstances: 100"),
     "in.yaml:7:3: spec.numberOfInstances: pgrender refuses it: spec.instances[0].replicas: expected a number of at "
     "most 99; found 100"),
    ("zalando", ZALANDO + ZALANDO_BASE.replace("acid-hippo", "'ACID_bad name'"),
     "in.yaml:4:12: metadata.name: pgrender refuses it: metadata.name: 'ACID_bad name' is not a valid name"),
    ("pgo", PGO + PGO_BASE + "---\n" + PGO + PGO_BASE,
     "in.yaml:15:12: metadata.name: cluster db/hippo is also defined at in.yaml:4"),
]  # fmt: skip


@pytest.mark.parametrize(("operator", "text", "message"), BAD)
def test_bad_input_exits_2_with_a_position(operator: str, text: str, message: str, tmp_path: Path) -> None:
    source = tmp_path / "in.yaml"
    source.write_text(text)
    result = convert_cli(tmp_path, "--from", operator, "in.yaml", "-o", str(tmp_path / "out.yaml"))
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out.yaml").exists()


def test_a_bad_namespace_option_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "in.yaml").write_text(PGO + PGO_BASE)
    result = convert_cli(tmp_path, "--from", "pgo", "in.yaml", "--namespace", "Bad NS", "-o", str(tmp_path / "o.yaml"))
    assert result.exit_code == 2 and "--namespace: 'Bad NS' is not a valid name" in result.stderr
    assert not (tmp_path / "o.yaml").exists() and "in.yaml" not in result.stderr


def test_bad_input_is_a_spec_error() -> None:
    with pytest.raises(SpecError):
        run("pgo", "- a\n")


def test_no_cluster_in_the_input_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "in.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    result = convert_cli(tmp_path, "--from", "pgo", "in.yaml")
    assert result.exit_code == 2 and "no PostgresCluster in in.yaml" in result.stderr


# The command: outputs, stdin, --force, --strict, formats ------------------------------------


def test_output_directory_gets_one_file_per_cluster(tmp_path: Path) -> None:
    (tmp_path / "in.yaml").write_text(PGO + PGO_BASE + "---\n" + PGO + PGO_BASE.replace("hippo", "rhino"))
    result = convert_cli(tmp_path, "--from", "pgo", "in.yaml", "-o", "specs/")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "specs").iterdir()) == ["hippo.yaml", "rhino.yaml"]
    spec = yaml.safe_load((tmp_path / "specs" / "rhino.yaml").read_text())
    assert spec["metadata"] == {"name": "rhino", "namespace": "db"}
    again = convert_cli(tmp_path, "--from", "pgo", "in.yaml", "-o", "specs")
    assert again.exit_code == 2 and "exists" in again.stderr
    assert convert_cli(tmp_path, "--from", "pgo", "in.yaml", "-o", "specs", "--force").exit_code == 0


def test_output_file_and_stdin(tmp_path: Path) -> None:
    result = convert_cli(tmp_path, "--from", "pgo", "-", "-o", "hippo.yaml", stdin=PGO + PGO_BASE)
    assert result.exit_code == 0, result.stderr
    written = (tmp_path / "hippo.yaml").read_text()
    assert written.startswith("---\n# pgrender convert --from pgo: -, document 1")
    assert yaml.safe_load(written.split("\n", 1)[1])["kind"] == "PostgresCluster"


def test_strict_writes_nothing_when_a_field_is_left_out(tmp_path: Path) -> None:
    (tmp_path / "in.yaml").write_text(PGO + PGO_BASE + "  image: crunchy-postgres:16\n")
    result = convert_cli(tmp_path, "--from", "pgo", "in.yaml", "--strict", "-o", "out.yaml")
    assert result.exit_code == 2 and "--strict" in result.stderr and "spec.image: left out" in result.stderr
    assert not (tmp_path / "out.yaml").exists()


def test_notes_as_json_and_github(tmp_path: Path) -> None:
    (tmp_path / "in.yaml").write_text(PGO + PGO_BASE + "  image: crunchy-postgres:16\n")
    as_json = convert_cli(tmp_path, "--from", "pgo", "in.yaml", "--format", "json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stderr)[0]["path"] == "spec.image"
    github = convert_cli(tmp_path, "--from", "pgo", "in.yaml", "--format", "github")
    assert github.stderr.startswith("::warning file=in.yaml,line=11,col=3::spec.image: left out:")


def test_namespace_option_fills_in_a_missing_namespace(tmp_path: Path) -> None:
    text = PGO + PGO_BASE.replace("{name: hippo, namespace: db}", "{name: hippo}")
    (tmp_path / "in.yaml").write_text(text)
    result = convert_cli(tmp_path, "--from", "pgo", "in.yaml", "--namespace", "apps")
    assert yaml.safe_load(result.stdout.split("\n", 1)[1])["metadata"] == {"name": "hippo", "namespace": "apps"}


# Every converted golden spec renders --------------------------------------------------------


def _converted(case: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((case / "expected.yaml").read_text()) if d]


@pytest.mark.parametrize("case", convert_cases(), ids=lambda c: c.name)
def test_converted_golden_specs_render(case: Path) -> None:
    assert _converted(case), "a convert case converts at least one cluster"
    spec = case / "expected.yaml"
    result = run_cli("render", str(spec), "--stdout", "--key-file", str(GOLDEN_KEY), "--namespace", "converted")
    assert result.exit_code == 0, result.stderr
    assert "kind: StatefulSet" in result.stdout


def test_converted_golden_specs_pass_the_validate_command() -> None:
    """`pgrender validate` (the installed command) on each converted spec (one run per case: the seed's
    manifests are all clusters named hippo)."""
    command = Path(sys.executable).with_name("pgrender")
    argv = [str(command)] if command.exists() else [sys.executable, "-m", "pgrender"]
    for case in convert_cases():
        spec = str((case / "expected.yaml").relative_to(ROOT))
        result = subprocess.run(
            [*argv, "validate", "--namespace", "converted", spec], capture_output=True, text=True, cwd=ROOT
        )
        assert result.returncode == 0, result.stderr
        assert f"{len(_converted(case))} cluster(s) valid" in result.stderr


# No traceback for any input ------------------------------------------------------------------

_MUTATIONS: list[Any] = [None, 0, -5, 2.5, True, "", "x", "1 Gi", [], {}, [1], {"a": 1}, "host all all all trust"]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path] if path else []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found += _paths(item, (*path, key))
    return found


@pytest.mark.parametrize("seed", range(150))
def test_mutated_golden_inputs_convert_or_fail_with_problems(seed: int) -> None:
    """Each golden input with one to three fields replaced or removed: converted, or bad input (SpecError)."""
    rnd = random.Random(seed)
    case = rnd.choice(convert_cases())
    docs = list(yaml.safe_load_all((case / "input.yaml").read_text()))
    for _ in range(rnd.randint(1, 3)):
        doc = rnd.choice(docs)
        path = rnd.choice(_paths(doc))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if rnd.random() < 0.3:
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(rnd.choice(_MUTATIONS))
    text = "---\n".join(yaml.safe_dump(d) for d in docs)
    try:
        convert(load_text(text, "in.yaml"), case.name.split("-")[1])
    except SpecError as exc:
        assert exc.problems
