"""Naming profiles: each operator's Service names, Secret names and keys, labels and Patroni role
label, as ../shared/reference/operators.md records them; PGD's connectivity (FQDNs, host suffix)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from cryptography import x509

from tests.conftest import base_spec, find, run_cli

Objects = Callable[[dict[str, Any]], list[dict[str, Any]]]


def spec(**fields: Any) -> dict[str, Any]:
    doc = base_spec()  # hippo in namespace db
    doc["spec"]["instances"] = [{"name": "a", "replicas": 2, "dataVolume": {"size": "1Gi"}}]
    doc["spec"]["proxy"] = {"pgBouncer": {}}
    doc["spec"].update(fields)
    return doc


def names(objects: list[dict[str, Any]], kind: str) -> list[str]:
    return sorted(o["metadata"]["name"] for o in objects if o["kind"] == kind)


def decoded(secret: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


# naming -> the Services, and the user Secret with its type and the keys an application of that operator reads
PROFILES = [
    ("pgo", ["hippo-pgbouncer", "hippo-pods", "hippo-primary", "hippo-replicas"],
     "hippo-pguser-hippo", "Opaque", ["uri", "jdbc-uri", "host"]),
    ("zalando", ["hippo", "hippo-pods", "hippo-pooler", "hippo-repl"],
     "hippo.hippo.credentials.postgresql.acid.zalan.do", "Opaque", ["username", "password"]),
    ("cnpg", ["hippo-pods", "hippo-pooler-rw", "hippo-r", "hippo-ro", "hippo-rw"],
     "hippo-app", "kubernetes.io/basic-auth",
     ["username", "password", "pgpass", "uri", "jdbc-uri", "fqdn-uri", "fqdn-jdbc-uri", "host", "dbname"]),
    ("pgd", ["hippo", "hippo-a-0", "hippo-a-1", "hippo-group", "hippo-pgbouncer", "hippo-pods", "hippo-proxy-r"],
     "hippo-app", "Opaque", ["username", "password"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("naming", "services", "secret", "secret_type", "keys"), PROFILES, ids=[p[0] for p in PROFILES]
)
def test_profile_names_and_keys(
    objects_of: Objects, naming: str, services: list[str], secret: str, secret_type: str, keys: list[str]
) -> None:
    objects = objects_of(spec(naming=naming))
    assert names(objects, "Service") == services
    user = find(objects, "Secret", secret)
    assert user["type"] == secret_type
    assert set(keys) <= set(user["data"])


# naming -> labels on every object (and so on the pods), the label Patroni writes the role in
LABELS = [
    ("pgo", {}, "pgrender.io/role"),
    ("zalando", {"application": "spilo", "cluster-name": "hippo"}, "spilo-role"),
    ("cnpg", {"cnpg.io/cluster": "hippo"}, "pgrender.io/role"),
    ("pgd", {"k8s.pgd.enterprisedb.io/group": "hippo"}, "pgrender.io/role"),
]


@pytest.mark.parametrize(("naming", "labels", "role_label"), LABELS, ids=[p[0] for p in LABELS])
def test_profile_labels(objects_of: Objects, naming: str, labels: dict[str, str], role_label: str) -> None:
    objects = objects_of(spec(naming=naming))
    for obj in objects:
        assert labels.items() <= obj["metadata"].get("labels", {}).items(), obj["metadata"]["name"]
    pod = find(objects, "StatefulSet", "hippo-a-0")["spec"]["template"]["metadata"]["labels"]
    assert labels.items() <= pod.items()
    config = yaml.safe_load(find(objects, "ConfigMap", "hippo-config")["data"]["patroni.yaml"])
    assert config["kubernetes"]["role_label"] == role_label
    services = [o for o in objects if o["kind"] == "Service"]
    roles = {o["spec"]["selector"][role_label] for o in services if role_label in o["spec"].get("selector", {})}
    assert roles == {"master", "replica"}  # what Patroni writes, for the primary and replica Services


def test_cnpg_app_secret_keys(objects_of: Objects) -> None:
    objects = objects_of(spec(naming="cnpg"))
    app = decoded(find(objects, "Secret", "hippo-app"))
    password = app["password"]
    assert (app["username"], app["user"], app["dbname"], app["host"]) == ("app", "app", "app", "hippo-rw")
    assert app["pgpass"] == f"hippo-rw:5432:app:app:{password}\n"
    assert app["uri"].startswith(f"postgresql://app:{password}@hippo-rw.db:5432/app?sslmode=verify-full")
    assert app["fqdn-uri"].startswith(f"postgresql://app:{password}@hippo-rw.db.svc.cluster.local:5432/app?")
    assert app["fqdn-jdbc-uri"].startswith("jdbc:postgresql://hippo-rw.db.svc.cluster.local:5432/app?password=")
    assert decoded(find(objects, "Secret", "hippo-ca")) == {"ca.crt": app["ca.crt"]}


def test_zalando_secret_name_dashes_underscores(objects_of: Objects) -> None:
    objects = objects_of(spec(naming="zalando", users=[{"name": "foo_user", "databases": ["foo"]}]))
    assert decoded(find(objects, "Secret", "foo-user.hippo.credentials.postgresql.acid.zalan.do"))["username"] == (
        "foo_user"
    )


def server_names(objects: list[dict[str, Any]], secret: str) -> list[str]:
    pem = base64.b64decode(find(objects, "Secret", secret)["data"]["tls.crt"])
    cert = x509.load_pem_x509_certificate(pem)
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)


def test_pgd_connectivity(objects_of: Objects) -> None:
    connectivity = {"dns": {"domain": "pgd.example.com", "hostSuffix": "-east"}, "replicationSSLMode": "verify-full"}
    objects = objects_of(spec(naming="pgd", connectivity=connectivity))
    assert names(objects, "Service") == [
        "hippo-a-0-east", "hippo-a-1-east", "hippo-east", "hippo-group-east", "hippo-pgbouncer-east", "hippo-pods",
        "hippo-proxy-r-east",
    ]  # fmt: skip
    sans = server_names(objects, "hippo-cluster-cert")
    # $node$hostSuffix.$domain and $group$hostSuffix.$domain
    assert {"hippo-a-0-east.pgd.example.com", "hippo-a-1-east.pgd.example.com", "hippo-east.pgd.example.com"} <= set(
        sans
    )
    assert "hippo-pgbouncer-east.pgd.example.com" in server_names(objects, "hippo-pgbouncer")
    app = decoded(find(objects, "Secret", "hippo-app"))
    assert app["host"] == "hippo-east.pgd.example.com"
    assert app["pgbouncer-host"] == "hippo-pgbouncer-east.pgd.example.com"
    node = find(objects, "Service", "hippo-a-1-east")["spec"]["selector"]
    assert node["pgrender.io/instance"] == "hippo-a-1"
    config = yaml.safe_load(find(objects, "ConfigMap", "hippo-config")["data"]["patroni.yaml"])
    assert config["postgresql"]["authentication"]["replication"]["sslmode"] == "verify-full"


def test_secret_mount_path_names_the_ca(objects_of: Objects) -> None:
    objects = objects_of(spec(connectivity={"secretMountPath": "/var/run/db"}))
    data = decoded(find(objects, "Secret", "hippo-pguser-hippo"))
    for key in ("uri", "jdbc-uri", "pgbouncer-uri", "pgbouncer-jdbc-uri"):
        assert "&sslrootcert=/var/run/db/ca.crt" in data[key], key


# field -> value -> what the message says
REFUSED = [
    (("connectivity",), {"dns": {"domain": "x.example", "hostSuffix": ".my-domain.com"}}, "is not a host suffix"),
    (("connectivity",), {"dns": {"hostSuffix": "-a"}}, "domain"),
    (("connectivity",), {"secretMountPath": "etc/db"}, "is not a mount path"),
    (("connectivity",), {"secretMountPath": "/etc/db?x"}, "would need to escape"),
    (("connectivity",), {"replicationSSLMode": "disable"}, "verify-full"),
    (("naming",), "kubegres", "pgo"),
]


@pytest.mark.parametrize(("path", "value", "message"), REFUSED)
def test_refused(write_spec: Callable[..., Any], path: tuple[str, ...], value: Any, message: str) -> None:
    doc = spec()
    doc["spec"][path[0]] = value
    result = run_cli("validate", str(write_spec(doc)))
    assert result.exit_code == 2 and message in result.stderr, result.stderr


def test_profile_labels_are_reserved(write_spec: Callable[..., Any]) -> None:
    doc = spec(naming="zalando")
    doc["metadata"]["labels"] = {"cluster-name": "other"}
    result = run_cli("validate", str(write_spec(doc)))
    assert result.exit_code == 2 and "'cluster-name' is set by pgrender under naming: zalando" in result.stderr
