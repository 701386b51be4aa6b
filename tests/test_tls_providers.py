"""TLS providers cert-manager and existing: the spec's checks, the Certificates (and CA Issuer), the
Secrets and keys the pods mount, the applications' ca.crt, the tls-reload sidecars, pg_ident.

Each is a table: a spec change and what must come out (tests/runtime/test_tls_providers.py runs them)."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pgrender.errors import SpecError
from pgrender.plan import ClusterPlan
from pgrender.plans import validate
from pgrender.pod_parts.tls_reload import CONTAINER as RELOADER
from tests.conftest import GOLDEN_KEY, base_spec, find, run_cli

Objects = Callable[[dict[str, Any]], list[dict[str, Any]]]


def _certificate(
    cn: str, *, ca: bool, issuer: tuple[ec.EllipticCurvePrivateKey, x509.Name] | None = None
) -> tuple[ec.EllipticCurvePrivateKey, x509.Name, str]:
    key = ec.derive_private_key(abs(hash(cn)) % 2**200 + 1, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    signer, issuer_name = issuer or (key, name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2026, 1, 1))
        .not_valid_after(dt.datetime(2036, 1, 1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signer, hashes.SHA256())
    )
    return key, name, cert.public_bytes(serialization.Encoding.PEM).decode()


ROOT_KEY, ROOT_NAME, ROOT = _certificate("Example Root CA", ca=True)
_, _, INTERMEDIATE = _certificate("Example Issuing CA", ca=True, issuer=(ROOT_KEY, ROOT_NAME))
_, _, LEAF = _certificate("not a CA", ca=False)
KEY_PEM = ROOT_KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()

CERT_MANAGER = {"provider": "cert-manager", "caCertificate": ROOT, "certManager": {"issuerRef": {"name": "corp"}}}
EXISTING_SETTINGS = {
    "serverSecretName": "corp-server",
    "replicationSecretName": "corp-replication",
    "superuserSecretName": "corp-postgres",
}
EXISTING = {"provider": "existing", "caCertificate": ROOT, "existing": EXISTING_SETTINGS}


def with_tls(tls: dict[str, Any], **spec: Any) -> dict[str, Any]:
    out = base_spec()
    out["spec"]["tls"] = tls
    out["spec"].update(spec)
    return out


def problems(write_spec: Callable[..., Path], spec: dict[str, Any]) -> list[str]:
    try:
        validate((str(write_spec(spec)),))
    except SpecError as exc:
        return [f"{p.path}: {p.message}" for p in exc.problems]
    return []


# --- The spec --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tls", "spec", "expected"),
    [
        (CERT_MANAGER, {}, None),
        ({**CERT_MANAGER, "certManager": {"caSecretName": "corp-ca"}}, {}, None),
        (EXISTING, {}, None),
        ({"provider": "cert-manager", "caCertificate": ROOT}, {}, "needs its settings: set spec.tls.certManager"),
        ({"provider": "existing", "caCertificate": ROOT}, {}, "needs its settings: set spec.tls.existing"),
        ({"certManager": {"issuerRef": {"name": "corp"}}}, {}, "certManager is read only with provider cert-manager"),
        ({**CERT_MANAGER, "existing": EXISTING_SETTINGS}, {}, "existing is read only with provider existing"),
        ({**CERT_MANAGER, "caCertificate": None}, {}, "needs caCertificate"),
        ({"caCertificate": ROOT}, {}, "provider derived makes the CA itself"),
        (
            {**CERT_MANAGER, "certManager": {"issuerRef": {"name": "a"}, "caSecretName": "b"}},
            {},
            "set exactly one of issuerRef",
        ),
        ({**CERT_MANAGER, "certManager": {}}, {}, "set exactly one of issuerRef"),
        (
            {**CERT_MANAGER, "certManager": {"issuerRef": {"name": "corp", "kind": "Vault"}}},
            {},
            "expected one of 'Issuer' or 'ClusterIssuer'",
        ),
        ({**CERT_MANAGER, "certManager": {"issuerRef": {"name": "c"}, "duration": "90d"}}, {}, "not a Go duration"),
        ({**CERT_MANAGER, "certManager": {"issuerRef": {"name": "c"}, "duration": "30m"}}, {}, "minimum is 1h"),
        ({**CERT_MANAGER, "certManager": {"issuerRef": {"name": "c"}, "renewBefore": "1m"}}, {}, "minimum is 5m"),
        (
            {**CERT_MANAGER, "certManager": {"issuerRef": {"name": "c"}, "duration": "24h", "renewBefore": "1440m"}},
            {},
            "renewBefore must be shorter than duration",
        ),
        ({**CERT_MANAGER, "certManager": {"issuerRef": {"name": "c"}, "duration": "1h30m"}}, {}, None),
        ({**CERT_MANAGER, "caCertificate": "hello"}, {}, "expected PEM certificates"),
        ({**CERT_MANAGER, "caCertificate": ROOT + KEY_PEM}, {}, "holds a private key"),
        ({**CERT_MANAGER, "caCertificate": LEAF}, {}, "certificate 1 is not a CA certificate"),
        ({**CERT_MANAGER, "caCertificate": INTERMEDIATE}, {}, "no self-signed root"),
        ({**CERT_MANAGER, "caCertificate": INTERMEDIATE + ROOT}, {}, None),
        ({**CERT_MANAGER, "notBefore": "2026-01-01T00:00:00Z"}, {}, "notBefore is read only by provider derived"),
        ({**CERT_MANAGER, "rotation": 1}, {}, "rotation is read only by provider derived"),
        ({**CERT_MANAGER, "extraSANs": ["db.example.com", "10.0.0.1"]}, {}, None),
        ({**EXISTING, "extraSANs": ["db.example.com"]}, {}, "extraSANs: provider existing's certificates are yours"),
        (
            {**EXISTING, "existing": {**EXISTING_SETTINGS, "items": {"certificate": "a", "privateKey": "a"}}},
            {},
            "three different keys",
        ),
        ({**EXISTING, "existing": {**EXISTING_SETTINGS, "items": {"ca": "a/b"}}}, {}, "is not a Secret key"),
        ({**EXISTING, "replicationCommonName": "streaming replica"}, {}, "not a common name"),
        ({**EXISTING, "replicationCommonName": "streaming_replica"}, {}, None),
        (
            {**EXISTING, "existing": {**EXISTING_SETTINGS, "serverSecretName": "hippo-patroni"}},
            {},
            "spec.tls.existing.serverSecretName: pgrender writes the Secret 'hippo-patroni' itself",
        ),
        # pgrender's own certificate names are free with existing: it writes none of them.
        ({**EXISTING, "existing": {**EXISTING_SETTINGS, "serverSecretName": "hippo-cluster-cert"}}, {}, None),
        (
            {**CERT_MANAGER, "certManager": {"caSecretName": "hippo-cluster-cert"}},
            {},
            "spec.tls.certManager.caSecretName: pgrender writes the Secret 'hippo-cluster-cert' itself",
        ),
        (
            EXISTING,
            {"backups": {"repos": [{"name": "repo1", "volume": {"size": "1Gi"}}]}},
            "spec.tls.existing: with spec.backups, name pgBackRestSecretName",
        ),
        (
            {**EXISTING, "existing": {**EXISTING_SETTINGS, "pgBackRestSecretName": "corp-pgbackrest"}},
            {"backups": {"repos": [{"name": "repo1", "volume": {"size": "1Gi"}}]}},
            None,
        ),
    ],
)
def test_spec(write_spec: Callable[..., Path], tls: dict[str, Any], spec: dict[str, Any], expected: str | None) -> None:
    tls = {k: v for k, v in tls.items() if v is not None}
    found = problems(write_spec, with_tls(tls, **spec))
    if expected is None:
        assert found == []
    else:
        assert any(expected in p for p in found), found
        assert all(ROOT not in p and "PRIVATE KEY" not in p for p in found)  # no PEM echoed back


# --- cert-manager -----------------------------------------------------------------------------------------


def kinds(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def mounted(workload: dict[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """(Secret, [(key, path)]) of every projected Secret source of a workload's pod."""
    template = workload["spec"].get("template") or workload["spec"]["jobTemplate"]["spec"]["template"]
    out = []
    for volume in template["spec"]["volumes"]:
        for source in volume.get("projected", {}).get("sources", []):
            if "secret" in source:
                items = [(i["key"], i["path"]) for i in source["secret"]["items"]]
                out.append((source["secret"]["name"], items))
    return out


def test_certificates_stand_where_the_certificate_secrets_were(objects_of: Objects) -> None:
    """Every kubernetes.io/tls Secret of derived has a Certificate of that name whose secretName it is;
    the pods mount the same Secrets at the same keys (pgBouncer's certificate moves to its own Secret)."""
    backups = {"repos": [{"name": "repo1", "volume": {"size": "1Gi"}}]}
    pgbouncer = {"pgBouncer": {"replicas": 1}}
    derived = objects_of(with_tls({}, backups=backups, proxy=pgbouncer))
    managed = objects_of(with_tls(CERT_MANAGER, backups=backups, proxy=pgbouncer))
    tls_secrets = {n for n, s in kinds(derived, "Secret").items() if s["type"] == "kubernetes.io/tls"}
    certificates = kinds(managed, "Certificate")
    assert tls_secrets | {"hippo-pgbouncer-cert"} == set(certificates)
    assert all(c["spec"]["secretName"] == name for name, c in certificates.items())
    assert not [s for s in kinds(managed, "Secret").values() if s["type"] == "kubernetes.io/tls"]
    for kind in ("StatefulSet", "CronJob", "Job"):
        before, after = kinds(derived, kind), kinds(managed, kind)
        for name in before.keys() & after.keys():
            assert mounted(before[name]) == mounted(after[name]), name
    assert mounted(find(managed, "Deployment", "hippo-pgbouncer")) == [
        ("hippo-pgbouncer", [("users.txt", "users.txt")]),
        ("hippo-pgbouncer-cert", [("tls.crt", "tls.crt"), ("tls.key", "tls.key"), ("ca.crt", "ca.crt")]),
    ]
    pgbouncer_secret = find(managed, "Secret", "hippo-pgbouncer")["data"]
    assert set(pgbouncer_secret) == {"users.txt", "password", "verifier"}


@pytest.mark.parametrize(
    ("secret", "common_name", "usages", "names"),
    [
        ("hippo-cluster-cert", "hippo-primary.db.svc.cluster.local", ["server auth", "client auth"], 17),
        ("hippo-replication-cert", "_pgrender_repl", ["client auth"], 0),
        ("hippo-superuser-cert", "postgres", ["client auth"], 0),
        ("hippo-pgbouncer-cert", "hippo-pgbouncer.db.svc.cluster.local", ["server auth"], 4),
    ],
)
def test_certificate(objects_of: Objects, secret: str, common_name: str, usages: list[str], names: int) -> None:
    tls = {**CERT_MANAGER, "extraSANs": ["db.example.com", "10.0.0.5", "2001:db8::5"]}
    certificate = find(objects_of(with_tls(tls, proxy={"pgBouncer": {}})), "Certificate", secret)
    spec = certificate["spec"]
    assert certificate["apiVersion"] == "cert-manager.io/v1"
    assert spec["commonName"] == common_name
    assert spec["usages"] == ["digital signature", *usages]
    assert len(spec.get("dnsNames", [])) == names
    assert spec["privateKey"] == {"algorithm": "ECDSA", "size": 256, "encoding": "PKCS8", "rotationPolicy": "Always"}
    assert spec["issuerRef"] == {"name": "corp", "kind": "Issuer", "group": "cert-manager.io"}
    assert spec["secretTemplate"]["labels"] == certificate["metadata"]["labels"]
    if secret == "hippo-cluster-cert":
        assert spec["dnsNames"][-1] == "db.example.com" and "hippo-instance1-1-0.hippo-pods" in spec["dnsNames"]
        assert spec["ipAddresses"] == ["10.0.0.5", "2001:db8::5"]
    else:
        assert "ipAddresses" not in spec


def test_pgd_names_and_streaming_replica(objects_of: Objects) -> None:
    """PGD's $node$hostSuffix.$domain and $group$hostSuffix.$domain; its streaming_replica client."""
    spec = with_tls({**CERT_MANAGER, "replicationCommonName": "streaming_replica"}, naming="pgd")
    spec["spec"]["connectivity"] = {"dns": {"domain": "pgd.example.com", "hostSuffix": "-east"}}
    objects = objects_of(spec)
    names = find(objects, "Certificate", "hippo-cluster-cert")["spec"]["dnsNames"]
    assert {"hippo-east.pgd.example.com", "hippo-group-east.pgd.example.com"} <= set(names)
    assert {"hippo-instance1-0-east.pgd.example.com", "hippo-instance1-1-east.pgd.example.com"} <= set(names)
    assert find(objects, "Certificate", "hippo-replication-cert")["spec"]["commonName"] == "streaming_replica"


@pytest.mark.parametrize(
    ("cert_manager", "issuer_ref", "issuer"),
    [
        ({"issuerRef": {"name": "corp", "kind": "ClusterIssuer"}}, ("corp", "ClusterIssuer"), None),
        ({"caSecretName": "corp-ca"}, ("hippo-ca-issuer", "Issuer"), {"ca": {"secretName": "corp-ca"}}),
    ],
)
def test_issuer(
    objects_of: Objects, cert_manager: dict[str, Any], issuer_ref: tuple[str, str], issuer: dict[str, Any] | None
) -> None:
    objects = objects_of(with_tls({**CERT_MANAGER, "certManager": {**cert_manager, "duration": "720h"}}))
    for certificate in kinds(objects, "Certificate").values():
        ref = certificate["spec"]["issuerRef"]
        assert (ref["name"], ref["kind"], certificate["spec"]["duration"]) == (*issuer_ref, "720h")
    issuers = kinds(objects, "Issuer")
    assert [i["spec"] for i in issuers.values()] == ([issuer] if issuer else [])


@pytest.mark.parametrize("naming", ["pgo", "cnpg"])
@pytest.mark.parametrize("tls", [CERT_MANAGER, EXISTING], ids=["cert-manager", "existing"])
def test_applications_get_the_given_ca(objects_of: Objects, tls: dict[str, Any], naming: str) -> None:
    """User Secrets (and CloudNativePG's <c>-ca) carry caCertificate as ca.crt: clients verify the
    server with the CA that signed it, whatever pgrender's own CA would be."""
    objects = objects_of(with_tls(tls, naming=naming))
    holders = [s for s in kinds(objects, "Secret").values() if "ca.crt" in s.get("data", {})]
    assert {s["metadata"]["name"] for s in holders} >= (
        {"hippo-app", "hippo-ca"} if naming == "cnpg" else {"hippo-pguser-hippo"}
    )
    assert all(base64.b64decode(s["data"]["ca.crt"]).decode() == ROOT for s in holders)


# --- existing ---------------------------------------------------------------------------------------------


def test_existing_mounts_the_named_secrets_at_their_keys(objects_of: Objects) -> None:
    items = {"certificate": "server.crt", "privateKey": "server.key", "ca": "root.crt"}
    tls = {**EXISTING, "existing": {**EXISTING_SETTINGS, "items": items}}
    objects = objects_of(with_tls(tls, proxy={"pgBouncer": {}}))
    assert not kinds(objects, "Certificate") and not [
        s for s in kinds(objects, "Secret").values() if s["type"] == "kubernetes.io/tls"
    ]
    keys = [("server.crt", "tls.crt"), ("server.key", "tls.key"), ("root.crt", "ca.crt")]
    replication = [("server.crt", "replication/tls.crt"), ("server.key", "replication/tls.key")]
    assert mounted(find(objects, "StatefulSet", "hippo-instance1-0")) == [
        ("corp-server", keys),
        ("corp-replication", replication),
    ]
    assert mounted(next(iter(kinds(objects, "Job").values()))) == [("corp-postgres", keys)]
    # pgBouncer: its own Secret for the auth file, the server Secret for TLS (its default).
    assert mounted(find(objects, "Deployment", "hippo-pgbouncer")) == [
        ("hippo-pgbouncer", [("users.txt", "users.txt")]),
        ("corp-server", keys),
    ]
    tls["existing"] = {**tls["existing"], "pgBouncerSecretName": "corp-pgbouncer"}
    deployment = find(objects_of(with_tls(tls, proxy={"pgBouncer": {}})), "Deployment", "hippo-pgbouncer")
    assert mounted(deployment)[1] == ("corp-pgbouncer", keys)


def test_existing_backups_mount_the_pgbackrest_secret(objects_of: Objects) -> None:
    tls = {**EXISTING, "existing": {**EXISTING_SETTINGS, "pgBackRestSecretName": "corp-pgbackrest"}}
    objects = objects_of(with_tls(tls, backups={"repos": [{"name": "repo1", "volume": {"size": "1Gi"}}]}))
    member = dict(mounted(find(objects, "StatefulSet", "hippo-instance1-0")))
    assert member["corp-pgbackrest"] == [("tls.crt", "pgbackrest/tls.crt"), ("tls.key", "pgbackrest/tls.key")]
    host = dict(mounted(find(objects, "StatefulSet", "hippo-repo-host")))
    assert host["corp-pgbackrest"][-1] == ("ca.crt", "ca.crt")


@pytest.mark.parametrize(
    ("tls", "ident", "method"),
    [
        ({}, None, "cert"),
        ({"replicationCommonName": "_pgrender_repl"}, None, "cert"),
        (
            {**EXISTING, "replicationCommonName": "streaming_replica"},
            ["pgrender-replication streaming_replica _pgrender_repl"],
            "cert map=pgrender-replication",
        ),
        (
            {"replicationCommonName": "streaming_replica"},
            ["pgrender-replication streaming_replica _pgrender_repl"],
            None,
        ),
    ],
)
def test_replication_common_name_maps_through_pg_ident(
    plan_of: Callable[[dict[str, Any]], ClusterPlan], tls: dict[str, Any], ident: list[str] | None, method: str | None
) -> None:
    plan = plan_of(with_tls(tls))
    postgresql = plan.patroni.dynamic_configuration["postgresql"]
    assert postgresql.get("pg_ident") == ident
    method = method or "cert map=pgrender-replication"
    assert f"hostssl replication _pgrender_repl all {method}" in postgresql["pg_hba"]
    assert f"hostssl postgres _pgrender_repl all {method}" in postgresql["pg_hba"]
    assert plan.tls.replication.common_name == tls.get("replicationCommonName", "_pgrender_repl")


# --- The reloader -----------------------------------------------------------------------------------------


def reloader(workload: dict[str, Any]) -> dict[str, Any] | None:
    pod = workload["spec"]["template"]["spec"]
    found = [c for c in pod["containers"] if c["name"] == RELOADER]
    assert bool(found) == bool(pod.get("shareProcessNamespace")), "the sidecar signals the pod's processes"
    return found[0] if found else None


def targets(container: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(watched directories, [[program, args...]]) from the sidecar's command."""
    args = container["command"][4:]
    groups: list[list[str]] = [[]]
    for arg in args:
        groups.append([]) if arg == "--" else groups[-1].append(arg)
    return groups[0], groups[1:]


@pytest.mark.parametrize(
    ("tls", "reloads"),
    [({}, False), (CERT_MANAGER, True), (EXISTING, True)],
    ids=["derived", "cert-manager", "existing"],
)
def test_reloader_where_certificates_change_in_the_cluster(
    objects_of: Objects, tls: dict[str, Any], reloads: bool
) -> None:
    if tls.get("provider") == "existing":
        tls = {**tls, "existing": {**EXISTING_SETTINGS, "pgBackRestSecretName": "corp-pgbackrest"}}
    backups = {"repos": [{"name": "repo1", "volume": {"size": "1Gi"}}]}
    objects = objects_of(with_tls(tls, backups=backups, proxy={"pgBouncer": {}}))
    member = reloader(find(objects, "StatefulSet", "hippo-instance1-0"))
    pooler = reloader(find(objects, "Deployment", "hippo-pgbouncer"))
    host = reloader(find(objects, "StatefulSet", "hippo-repo-host"))
    if not reloads:
        assert (member, pooler, host) == (None, None, None)
        return
    assert member and pooler and host
    assert targets(member) == (["/pgconf/tls"], [["patroni", "/etc/patroni"], ["pgbackrest", "server"]])
    assert targets(pooler) == (["/etc/pgbouncer/secret"], [["pgbouncer", "/etc/pgbouncer/pgbouncer.ini"]])
    assert targets(host) == (["/pgconf/tls"], [["pgbackrest", "server"]])
    for container in (member, pooler, host):
        assert container["command"][:2] == ["python3", "-c"] and container["image"].startswith("ghcr.io/zalando/spilo")
        assert all(m["readOnly"] for m in container["volumeMounts"])
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {m["mountPath"] for m in member["volumeMounts"]} == {"/pgconf/tls", "/etc/patroni"}


@pytest.mark.parametrize(("days", "warned"), [(10, "expires on"), (-1, "expired on"), (400, None)])
def test_validate_warns_when_the_given_ca_is_near_its_end(
    write_spec: Callable[..., Path], days: int, warned: str | None
) -> None:
    """validate reads the clock (for warnings only): a CA of caCertificate ending within 60 days is named."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Ending CA")])
    now = dt.datetime.now(dt.UTC)
    ca = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - dt.timedelta(days=400))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = ca.public_bytes(serialization.Encoding.PEM).decode()
    result = run_cli("validate", str(write_spec(with_tls({**CERT_MANAGER, "caCertificate": ROOT + pem}))))
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    if warned is None:
        assert warnings == []
    else:
        assert (
            len(warnings) == 1
            and "spec.tls.caCertificate: the CA CN=Ending CA" in warnings[0]
            and warned in warnings[0]
        )


# --- pgrender diff ------------------------------------------------------------------------------------------


def diff(
    write_spec: Callable[..., Path], tmp_path: Path, old: dict[str, Any], new: dict[str, Any]
) -> list[dict[str, Any]]:
    import json

    for name, spec in (("old", old), ("new", new)):
        result = run_cli("render", str(write_spec(spec)), "-o", str(tmp_path / name), "--key-file", str(GOLDEN_KEY))
        assert result.exit_code == 0, result.stderr
    result = run_cli("diff", str(tmp_path / "old"), str(tmp_path / "new"), "--format", "json")
    findings: list[dict[str, Any]] = json.loads(result.stdout)["findings"]
    return findings


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ({}, CERT_MANAGER, "TLS provider derived → cert-manager: cert-manager issues the certificates"),
        ({}, EXISTING, "TLS provider derived → existing: the pods mount your Secrets"),
        (CERT_MANAGER, {}, "TLS provider cert-manager → derived: pgrender writes its own certificates again"),
        (CERT_MANAGER, EXISTING, "TLS provider cert-manager → existing"),
    ],
)
def test_diff_says_what_a_provider_change_does(
    write_spec: Callable[..., Path], tmp_path: Path, old: dict[str, Any], new: dict[str, Any], said: str
) -> None:
    findings = diff(write_spec, tmp_path, with_tls(old), with_tls(new))
    (provider,) = [f for f in findings if f["path"] == "spec.tls.provider"]
    assert provider["class"] == "restart" and provider["message"].startswith(said), provider
    if new.get("provider") == "cert-manager":
        taken = [f for f in findings if f["kind"] == "Secret" and "cert-manager writes this Secret" in f["message"]]
        assert {f["name"] for f in taken} == {"hippo-cluster-cert", "hippo-replication-cert", "hippo-superuser-cert"}


def test_diff_risks_a_pruned_secret_the_new_pods_mount(write_spec: Callable[..., Path], tmp_path: Path) -> None:
    """Moving to existing with the Secret pgrender wrote: pruning would delete what the pods mount."""
    tls = {**EXISTING, "existing": {**EXISTING_SETTINGS, "serverSecretName": "hippo-cluster-cert"}}
    findings = diff(write_spec, tmp_path, with_tls({}), with_tls(tls))
    risks = [f for f in findings if f["class"] == "risk"]
    assert [(f["name"], f["id"]) for f in risks] == [
        ("hippo-cluster-cert", "remove-secret:hippo-cluster-cert"),
        ("hippo", "new-ca:hippo"),  # the members' CA is no longer the one trusted (test_changes)
    ]


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"certManager": {"issuerRef": {"name": "other"}}}, "another issuer signs from the next issuance"),
        ({"extraSANs": ["db.example.com"]}, "cert-manager issues a new certificate (and key) into the same Secret"),
    ],
)
def test_diff_of_a_certificate(
    write_spec: Callable[..., Path], tmp_path: Path, change: dict[str, Any], said: str
) -> None:
    findings = diff(write_spec, tmp_path, with_tls(CERT_MANAGER), with_tls({**CERT_MANAGER, **change}))
    certificates = [f for f in findings if f["kind"] == "Certificate"]
    assert certificates and all(said in f["message"] and f["class"] == "live" for f in certificates), findings
    assert not [f for f in findings if f["kind"] == "StatefulSet"]  # nothing restarts


REPLICAS_KEYS = [("tls.crt", "tls.crt"), ("tls.key", "tls.key"), ("ca.crt", "ca.crt")]
REPLICAS_DNS = [
    "hippo-pgbouncer-replicas.db.svc.cluster.local",
    "hippo-pgbouncer-replicas.db.svc",
    "hippo-pgbouncer-replicas.db",
    "hippo-pgbouncer-replicas",
]
EXISTING_POOLER = {**EXISTING, "existing": {**EXISTING_SETTINGS, "pgBouncerSecretName": "corp-pgbouncer"}}


REPLICAS = "hippo-pgbouncer-replicas"
AUTH_FILE = (REPLICAS, [("users.txt", "users.txt")])


# TLS provider -> (the Secrets the replicas' pgBouncer mounts, the certificate object for its Service's
# names: a Secret of pgrender's own, a cert-manager Certificate, or none: the user's Secret names them)
@pytest.mark.parametrize(
    ("tls", "secrets", "certificate"),
    [
        ({}, [(REPLICAS, [AUTH_FILE[1][0], *REPLICAS_KEYS])], ("Secret", REPLICAS)),
        (CERT_MANAGER, [AUTH_FILE, (f"{REPLICAS}-cert", REPLICAS_KEYS)], ("Certificate", f"{REPLICAS}-cert")),
        (EXISTING, [AUTH_FILE, ("corp-server", REPLICAS_KEYS)], None),
        (EXISTING_POOLER, [AUTH_FILE, ("corp-pgbouncer", REPLICAS_KEYS)], None),
    ],
)  # fmt: skip
def test_replicas_pgbouncer_certificate(
    objects_of: Objects,
    tls: dict[str, Any],
    secrets: list[tuple[str, list[tuple[str, str]]]],
    certificate: tuple[str, str] | None,
) -> None:
    objects = objects_of(with_tls(tls, proxy={"pgBouncer": {}, "pgBouncerReplicas": {}}))
    assert mounted(find(objects, "Deployment", "hippo-pgbouncer-replicas")) == secrets
    if certificate is None:
        return
    kind, name = certificate
    if kind == "Certificate":
        assert find(objects, kind, name)["spec"]["dnsNames"] == REPLICAS_DNS
        return
    pem = base64.b64decode(find(objects, kind, name)["data"]["tls.crt"])
    cert = x509.load_pem_x509_certificate(pem)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert names == REPLICAS_DNS
    # Its own key, not the primary's pgBouncer's.
    primary = find(objects, "Secret", "hippo-pgbouncer")["data"]["tls.key"]
    assert find(objects, kind, name)["data"]["tls.key"] != primary
