"""Secrets provider `sealed`: SealedSecrets that unseal, with the controller's published algorithm and the test
controller's private key, into exactly the Secrets the derived provider writes; ciphertexts kept while their values
are unchanged (a keyed record beside each), new ones for exactly the values that changed; the doors into git accept
the output; rotations reach the pods and `diff` names the keys.

The test controller (tests/fixtures/sealed_secrets/controller.crt and .key) is published with the source and must
never protect a real cluster.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pgrender import changes
from pgrender.record import RECORD
from pgrender.secrets import sealed
from pgrender.secrets.sealed import RECORD_ANNOTATION, Sealer, earlier_seals, load_certificate
from tests.conftest import EXAMPLES, GOLDEN, GOLDEN_KEY, ROOT, base_spec, run_cli
from tests.secret_scan import secret_strings

FIXTURES = ROOT / "tests" / "fixtures" / "sealed_secrets"
CERTIFICATE = FIXTURES / "controller.crt"
PRIVATE_KEY = FIXTURES / "controller.key"
GOLDEN_CASE = GOLDEN / "sealed-pooled"
SECRETS_DIGEST = "pgrender.io/secrets-digest"
OTHER_KEY = "1" * 64

Manifest = dict[str, Any]


# The controller's side, written here from its published algorithm (pkg/crypto/crypto.go HybridDecrypt) ----------


def controller_key() -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(PRIVATE_KEY.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def hybrid_decrypt(key: rsa.RSAPrivateKey, ciphertext: bytes, label: bytes) -> bytes:
    """uint16 big-endian length of the RSA part, RSA-OAEP-SHA256 (label) of the session key, AES-256-GCM, zero nonce."""
    rsa_length = int.from_bytes(ciphertext[:2], "big")
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label or None)
    session_key = key.decrypt(ciphertext[2 : 2 + rsa_length], oaep)
    return AESGCM(session_key).decrypt(bytes(12), ciphertext[2 + rsa_length :], None)


def unseal(key: rsa.RSAPrivateKey, sealed_secret: Manifest) -> Manifest:
    """The Secret the controller makes (Unseal in sealedsecret_expansion.go), without its ownerReference:
    spec.template's metadata and type, the SealedSecret's name and namespace, strict scope's label."""
    meta = sealed_secret["metadata"]
    assert not {"sealedsecrets.bitnami.com/namespace-wide", "sealedsecrets.bitnami.com/cluster-wide"} & set(
        meta.get("annotations", {})
    ), "strict scope: no scope annotation"
    label = f"{meta['namespace']}/{meta['name']}".encode()
    template = sealed_secret["spec"]["template"]
    data = {
        key_name: base64.b64encode(hybrid_decrypt(key, base64.b64decode(value), label)).decode()
        for key_name, value in sealed_secret["spec"]["encryptedData"].items()
    }
    secret: Manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], **template.get("metadata", {})},
        "data": data,
    }
    for field in ("type", "immutable"):
        if field in template:
            secret[field] = template[field]
    return secret


# Rendering ----------------------------------------------------------------------------------------------------


def sealed_args(*extra: str) -> list[str]:
    return [
        "--key-file",
        str(GOLDEN_KEY),
        "--secrets-provider",
        "sealed",
        "--sealing-certificate",
        str(CERTIFICATE),
        *extra,
    ]


def objects(text: str) -> list[Manifest]:
    return [d for d in yaml.safe_load_all(text) if d]


def by_id(items: list[Manifest]) -> dict[str, Manifest]:
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in items}


def stream(spec: Path, *args: str) -> str:
    result = run_cli("render", str(spec), "--stdout", *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def render_dir(spec: Path, out: Path, *args: str) -> None:
    result = run_cli("render", str(spec), "-o", str(out), *sealed_args(*args))
    assert result.exit_code == 0, result.stderr


def read_tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def sealed_secrets(directory: Path) -> dict[str, Manifest]:
    return {
        o["metadata"]["name"]: o for p in sorted(directory.glob("sealedsecret-*.yaml")) for o in objects(p.read_text())
    }


@pytest.fixture
def pooled(write_spec: Callable[..., Path]) -> Path:
    """examples/pooled.yaml: users, pgBouncer, TLS; every kind of Secret pgrender writes but backups'."""
    return write_spec((EXAMPLES / "pooled.yaml").read_text(), "pooled.yaml")


# Unsealing gives the derived Secrets, byte for byte ---------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    ["fresh-render", "committed-golden-case"],
)
def test_unsealed_secrets_are_the_derived_ones_byte_for_byte(source: str, tmp_path: Path) -> None:
    spec = GOLDEN_CASE / "spec.yaml"
    derived = {
        o["metadata"]["name"]: o for o in objects(stream(spec, "--key-file", str(GOLDEN_KEY))) if o["kind"] == "Secret"
    }
    if source == "fresh-render":
        render_dir(spec, tmp_path / "out")
        sealed_objects = sealed_secrets(tmp_path / "out")
    else:
        sealed_objects = sealed_secrets(GOLDEN_CASE / "expected")
    assert sorted(sealed_objects) == sorted(derived) and len(derived) >= 7
    key = controller_key()
    for name, sealed_secret in sealed_objects.items():
        assert unseal(key, sealed_secret) == derived[name], name


def test_the_sealed_output_holds_no_secret_value_in_any_form(tmp_path: Path, pooled: Path) -> None:
    run = run_cli("render", str(pooled), "-o", str(tmp_path / "derived"), "--key-file", str(GOLDEN_KEY))
    assert run.exit_code == 0
    values = secret_strings(tmp_path / "derived", GOLDEN_KEY.read_text().strip())
    assert len(values) > 50
    render_dir(pooled, tmp_path / "sealed")
    text = "".join(p.read_text() for p in (tmp_path / "sealed").rglob("*.yaml"))
    assert [v for v in values if v in text] == []
    assert not list((tmp_path / "sealed").glob("secret-*.yaml"))


# The wire format -----------------------------------------------------------------------------------------------


def test_the_wire_format_is_the_controllers() -> None:
    certificate = load_certificate(str(CERTIFICATE))
    value = b"postgresql://shop:pa55@db/shop"
    ciphertext = sealed.hybrid_encrypt(certificate.key, value, b"apps/secret", lambda n: bytes(range(n)))
    assert ciphertext[:2] == (512).to_bytes(2, "big")  # a 4096-bit key: every value starts with base64 "Ag"
    assert base64.b64encode(ciphertext).startswith(b"Ag")
    assert len(ciphertext) == 2 + 512 + len(value) + 16  # GCM: as long as the value, and the tag
    # The AES part is AES-256-GCM under the session key the test's random source gave, with a zero nonce.
    assert AESGCM(bytes(range(32))).decrypt(bytes(12), ciphertext[514:], None) == value
    assert hybrid_decrypt(controller_key(), ciphertext, b"apps/secret") == value


@pytest.mark.parametrize(
    ("label", "opens"),
    [
        (b"apps/secret", True),
        (b"apps/other", False),  # strict scope: another name
        (b"other/secret", False),  # another namespace
        (b"apps", False),  # the namespace-wide label
        (b"", False),  # the cluster-wide label
    ],
)
def test_strict_scope_binds_namespace_and_name(label: bytes, opens: bool) -> None:
    certificate = load_certificate(str(CERTIFICATE))
    ciphertext = sealed.hybrid_encrypt(certificate.key, b"value", sealed.encryption_label("apps", "secret"))
    if opens:
        assert hybrid_decrypt(controller_key(), ciphertext, label) == b"value"
    else:
        with pytest.raises(ValueError):
            hybrid_decrypt(controller_key(), ciphertext, label)


# Ciphertexts are kept while values are unchanged -----------------------------------------------------------------


def test_a_second_render_keeps_every_file_and_check_is_current(tmp_path: Path, pooled: Path) -> None:
    out = tmp_path / "out"
    render_dir(pooled, out)
    first = read_tree(out)
    inodes = {p.name: p.stat().st_ino for p in out.iterdir()}
    result = run_cli("render", str(pooled), "-o", str(out), "--exit-code", *sealed_args())
    assert result.exit_code == 0, result.stderr  # --exit-code: nothing changed
    assert read_tree(out) == first
    assert {p.name: p.stat().st_ino for p in out.iterdir()} == inodes, "unchanged files are left alone"
    check = run_cli("check", str(pooled), "-o", str(out), *sealed_args())
    assert check.exit_code == 0, check.stdout + check.stderr


def test_without_the_previous_output_every_value_is_sealed_anew(tmp_path: Path, pooled: Path) -> None:
    render_dir(pooled, tmp_path / "a")
    render_dir(pooled, tmp_path / "b")
    a, b = sealed_secrets(tmp_path / "a"), sealed_secrets(tmp_path / "b")
    for name in a:
        old, new = a[name]["spec"]["encryptedData"], b[name]["spec"]["encryptedData"]
        assert all(old[k] != new[k] for k in old), name


def render_in_process(spec: Path, previous: Path, env: dict[str, str]) -> bytes:
    return subprocess.run(
        [sys.executable, "-m", "pgrender", "render", str(spec), "--stdout", *sealed_args("--previous", str(previous))],
        check=True,
        capture_output=True,
        env={**os.environ, **env},
        cwd=ROOT,
    ).stdout


def test_same_inputs_and_previous_output_give_the_same_bytes_across_processes(tmp_path: Path, pooled: Path) -> None:
    render_dir(pooled, tmp_path / "out")
    first = render_in_process(pooled, tmp_path / "out", {"PYTHONHASHSEED": "1", "TZ": "UTC"})
    second = render_in_process(pooled, tmp_path / "out", {"PYTHONHASHSEED": "4242", "TZ": "Pacific/Kiritimati"})
    assert first == second
    on_disk = [
        f"---\n{p.read_text()}" for p in (tmp_path / "out").iterdir() if p.name not in ("kustomization.yaml", RECORD)
    ]
    text = first.decode()
    assert all(document in text for document in on_disk) and len(text) == sum(map(len, on_disk))


# What a record vouches for: a ciphertext is kept only for the very value, place and certificate it sealed ------


def other_certificate(tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return write_certificate(tmp_path / "other.crt", key)


def write_certificate(path: Path, key: Any) -> Path:
    import datetime as dt

    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "sealed-secret")])
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def swap_ciphertexts(out: Path) -> None:
    """Swap the ciphertexts (and records) of two keys: each record still belongs to its ciphertext, not its key."""
    path = out / "sealedsecret-pooled-pguser-shop.yaml"
    obj = objects(path.read_text())[0]
    data = obj["spec"]["encryptedData"]
    data["password"], data["uri"] = data["uri"], data["password"]
    path.write_text(yaml.safe_dump(obj))


def tamper_record(out: Path) -> None:
    path = out / "sealedsecret-pooled-pguser-shop.yaml"
    text = path.read_text()
    records = objects(text)[0]["metadata"]["annotations"][RECORD_ANNOTATION]
    line = next(line for line in records.splitlines() if line.startswith("password "))
    path.write_text(text.replace(line, "password " + "0" * 32))


def drop_records(out: Path) -> None:
    for path in out.glob("sealedsecret-*.yaml"):
        obj = objects(path.read_text())[0]
        del obj["metadata"]["annotations"][RECORD_ANNOTATION]
        path.write_text(yaml.safe_dump(obj))


def break_yaml(out: Path) -> None:
    path = out / "sealedsecret-pooled-pguser-shop.yaml"
    path.write_text(path.read_text() + "\n  : [unclosed\n")


USER_SECRET = "pooled-pguser-shop"
PASSWORD_KEYS = {"password", "verifier", "uri", "jdbc-uri", "pgbouncer-uri", "pgbouncer-jdbc-uri"}
ACCESS_SECRET = "pooled-pgaccess-shop"  # examples/pooled.yaml's shop has accessSecret: true


@pytest.mark.parametrize(
    ("change", "args", "resealed"),
    [
        ("nothing", [], {}),
        ("user-rotation", [], {USER_SECRET: PASSWORD_KEYS, ACCESS_SECRET: {"PGPASSWORD"}}),
        ("swapped-ciphertexts", [], {USER_SECRET: {"password", "uri"}}),
        ("tampered-record", [], {USER_SECRET: {"password"}}),
        ("no-records", [], "all"),
        ("unreadable-file", [], {USER_SECRET: "all"}),
        ("other-root-key", ["--key-file", "other.key"], "all"),
        ("other-certificate", ["--sealing-certificate", "other.crt"], "all"),
    ],
)
def test_exactly_the_values_that_changed_are_sealed_anew(
    change: str, args: list[str], resealed: dict[str, Any] | str, tmp_path: Path, pooled: Path
) -> None:
    out = tmp_path / "out"
    render_dir(pooled, out)
    before = sealed_secrets(out)
    spec = pooled
    if change == "user-rotation":
        text = pooled.read_text().replace("    - name: shop\n", "    - name: shop\n      passwordRotation: 1\n")
        spec = tmp_path / "rotated.yaml"
        spec.write_text(text)
    mutate = {
        "swapped-ciphertexts": swap_ciphertexts,
        "tampered-record": tamper_record,
        "no-records": drop_records,
        "unreadable-file": break_yaml,
    }.get(change)
    if mutate:
        mutate(out)
    (tmp_path / "other.key").write_text(OTHER_KEY + "\n")
    (tmp_path / "other.key").chmod(0o600)
    other_certificate(tmp_path)
    extra = [str(tmp_path / a) if a in ("other.key", "other.crt") else a for a in args]
    result = run_cli("render", str(spec), "--stdout", *sealed_args("--previous", str(out), *extra))
    assert result.exit_code == 0, result.stderr
    after = {o["metadata"]["name"]: o for o in objects(result.stdout) if o["kind"] == "SealedSecret"}
    changed = {
        name: {
            k
            for k, v in after[name]["spec"]["encryptedData"].items()
            if before[name]["spec"]["encryptedData"].get(k) != v
        }
        for name in after
    }
    if resealed == "all":
        expected = {name: set(after[name]["spec"]["encryptedData"]) for name in after}
    else:
        expected = {name: set() for name in after}
        for name, keys in dict(resealed).items():
            expected[name] = set(after[name]["spec"]["encryptedData"]) if keys == "all" else set(keys)
    assert changed == expected
    if change in ("nothing", "user-rotation", "swapped-ciphertexts", "tampered-record"):
        key = controller_key()
        for name in after:  # whatever was kept or made anew unseals to the value rendered now
            secret = unseal(key, after[name])
            assert secret["data"].keys() == after[name]["spec"]["encryptedData"].keys()


def test_a_record_is_a_keyed_digest_of_namespace_name_key_value_certificate_and_ciphertext() -> None:
    certificate = load_certificate(str(CERTIFICATE))
    root = bytes.fromhex(GOLDEN_KEY.read_text().strip())
    record = Sealer(certificate, root).record
    base = record("apps", "s", "password", b"v", "AgAA")
    assert len(base) == 32 and int(base, 16) >= 0
    assert record("apps", "s", "password", b"v", "AgAA") == base  # a pure function of its inputs
    others = [
        Sealer(certificate, bytes(32)).record("apps", "s", "password", b"v", "AgAA"),
        record("other", "s", "password", b"v", "AgAA"),
        record("apps", "t", "password", b"v", "AgAA"),
        record("apps", "s", "uri", b"v", "AgAA"),
        record("apps", "s", "password", b"w", "AgAA"),
        record("apps", "s", "password", b"v", "AgAB"),
        record("apps/s", "", "password", b"v", "AgAA"),  # fields are length-prefixed: no two inputs run together
    ]
    assert len({base, *others}) == len(others) + 1


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("", {}),
        ("kind: ConfigMap\n", {}),
        ("kind: SealedSecret\napiVersion: v1\n", {}),
        (
            "kind: SealedSecret\napiVersion: bitnami.com/v1alpha1\nmetadata: {name: s}\n"
            "spec: {encryptedData: {a: x}}\n",
            {},
        ),
        (
            "kind: SealedSecret\napiVersion: bitnami.com/v1alpha1\nmetadata: {name: s, namespace: n}\n"
            "spec: {encryptedData: {a: x}}\n",
            {("n", "s"): {}},
        ),
        (
            "kind: SealedSecret\napiVersion: bitnami.com/v1alpha1\n"
            "metadata: {name: s, namespace: n, annotations:\n"
            '  {pgrender.io/sealed-digests: "a d1\\nb d2\\nnot a record\\n"}}\n'
            "spec: {encryptedData: {a: x, c: y}}\n",
            {("n", "s"): {"a": ("x", "d1")}},
        ),
        ("kind: SealedSecret\n: [", {}),
    ],
    ids=["empty", "other-kind", "other-api-version", "no-namespace", "no-records", "records", "bad-yaml"],
)
def test_earlier_seals_reads_only_what_it_can_use(text: str, found: dict[Any, Any]) -> None:
    assert earlier_seals({"f.yaml": text}) == found


# Errors -----------------------------------------------------------------------------------------------------------


def ec_certificate(tmp_path: Path) -> Path:
    return write_certificate(tmp_path / "ec.crt", ec.generate_private_key(ec.SECP256R1()))


def small_rsa_certificate(tmp_path: Path) -> Path:
    return write_certificate(tmp_path / "small.crt", rsa.generate_private_key(public_exponent=65537, key_size=1024))


@pytest.mark.parametrize(
    ("certificate", "message"),
    [
        (None, "the sealed provider needs the sealed-secrets controller's certificate: set secrets.sealed.certificate"),
        (lambda p: p / "missing.crt", "missing.crt: cannot read the sealing certificate: No such file or directory"),
        (lambda p: (p / "x.crt").write_text("not PEM\n") and p / "x.crt", "x.crt: not a PEM certificate"),
        (ec_certificate, "ec.crt: the certificate's key is not RSA"),
        (small_rsa_certificate, "small.crt: a 1024-bit RSA key is too small (at least 2048)"),
        (lambda p: PRIVATE_KEY, "controller.key: not a PEM certificate"),
        # ~user of no user is left as it is (os.path.expanduser); pathlib raised, an internal error
        (lambda p: Path("~nosuchuser/seal.crt"), "~nosuchuser/seal.crt: cannot read the sealing certificate"),
    ],
    ids=["none", "missing", "not-pem", "not-rsa", "small-rsa", "a-private-key", "unknown-user"],
)
def test_a_certificate_that_cannot_seal_is_exit_2_and_nothing_written(
    certificate: Callable[[Path], Path] | None, message: str, tmp_path: Path, pooled: Path
) -> None:
    args = ["--key-file", str(GOLDEN_KEY), "--secrets-provider", "sealed"]
    if certificate is not None:
        args += ["--sealing-certificate", str(certificate(tmp_path))]
    result = run_cli("render", str(pooled), "-o", str(tmp_path / "out"), *args)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert "PRIVATE" not in result.stderr and "MII" not in result.stderr, "no key material in messages"
    assert not (tmp_path / "out").exists()


def test_spec_problems_come_before_a_missing_certificate(write_spec: Callable[..., Path], tmp_path: Path) -> None:
    spec = base_spec()
    spec["spec"]["instances"][0]["dataVolume"]["size"] = "1 Gi"
    result = run_cli(
        "render", str(write_spec(spec)), "--stdout", "--key-file", str(GOLDEN_KEY), "--secrets-provider", "sealed"
    )
    assert result.exit_code == 2 and "is not a Kubernetes quantity" in result.stderr
    assert "certificate" not in result.stderr


def test_previous_must_hold_output(tmp_path: Path, pooled: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run_cli("render", str(pooled), "--stdout", *sealed_args("--previous", str(tmp_path / "empty")))
    assert result.exit_code == 2 and "holds no rendered output" in result.stderr


# pgrender.yaml, the doors into git ---------------------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.run(["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git work tree with pgrender.yaml (sealed, the certificate beside it) and a spec; rendered/ not ignored."""
    if shutil.which("git") is None:
        pytest.skip("needs git")
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q")
    shutil.copyfile(CERTIFICATE, path / "sealed-secrets.pem")
    shutil.copyfile(EXAMPLES / "pooled.yaml", path / "pooled.pgcluster.yaml")
    (path / "pgrender.yaml").write_text(
        "apiVersion: pgrender.io/v1alpha1\nkind: RenderConfig\n"
        f"secrets: {{provider: sealed, keyFile: {GOLDEN_KEY}, sealed: {{certificate: sealed-secrets.pem}}}}\n"
    )
    monkeypatch.chdir(path)
    return path


def test_render_write_and_check_accept_sealed_output_in_a_work_tree(repo: Path) -> None:
    first = run_cli("render", "--write", "--exit-code")
    assert first.exit_code == 1, first.stderr  # files created
    assert sorted(p.name for p in (repo / "rendered").glob("sealedsecret-*")) and not list(
        (repo / "rendered").glob("secret-*")
    )
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "rendered")
    again = run_cli("render", "--write", "--exit-code")
    assert again.exit_code == 0, again.stderr  # nothing changed: ciphertexts kept
    assert git(repo, "status", "--porcelain") == ""
    check = run_cli("check")
    assert check.exit_code == 0, check.stdout + check.stderr
    assert run_cli("diff").exit_code == 0


def test_the_plaintext_refusal_names_the_settings_that_fix_it(repo: Path) -> None:
    result = run_cli("render", "--write", "--secrets-provider", "derived")
    assert result.exit_code == 2 and not (repo / "rendered").exists()
    message = " ".join(result.stderr.split())
    assert "set `secrets.provider` in pgrender.yaml to one of these" in message
    assert "`sealed`: Bitnami SealedSecrets for the controller's certificate (secrets.sealed.certificate" in message
    assert "`existing`:" in message and "`derived`" not in message


def test_a_relative_certificate_path_is_relative_to_pgrender_yaml(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "sub").mkdir()
    monkeypatch.chdir(repo / "sub")
    result = run_cli("render", "--config", "../pgrender.yaml", "--stdout")
    assert result.exit_code == 0, result.stderr
    assert "kind: SealedSecret" in result.stdout


# Rotation reaches the pods; diff names the keys --------------------------------------------------------------------


def pod_digests(items: list[Manifest]) -> dict[str, str]:
    return {
        f"{o['kind']}/{o['metadata']['name']}": o["spec"]["template"]["metadata"]["annotations"][SECRETS_DIGEST]
        for o in items
        if o["kind"] in ("StatefulSet", "Deployment")
    }


ALL_PODS = {"StatefulSet/pooled-db-0", "StatefulSet/pooled-db-1", "Deployment/pooled-pgbouncer"}


@pytest.mark.parametrize(
    ("edit", "rolled", "keys"),
    [
        ("", set(), {}),
        (
            "spec:\n  tls: {rotation: 1}\n",
            ALL_PODS,
            {  # new keys and certificates under the same CA
                "pooled-cluster-cert": {"tls.crt", "tls.key"},
                "pooled-replication-cert": {"tls.crt", "tls.key"},
                "pooled-superuser-cert": {"tls.crt", "tls.key"},
                "pooled-pgbouncer": {"tls.crt", "tls.key"},
            },
        ),
        (
            "    - name: shop\n      passwordRotation: 1\n",
            set(),
            {"pooled-pguser-shop": PASSWORD_KEYS, ACCESS_SECRET: {"PGPASSWORD"}},
        ),
    ],
    ids=["unchanged", "tls-rotation", "password-rotation"],
)
def test_a_rotation_reseals_exactly_its_keys_and_rolls_the_pods_that_mount_them(
    edit: str, rolled: set[str], keys: dict[str, set[str]], tmp_path: Path, pooled: Path
) -> None:
    out = tmp_path / "out"
    render_dir(pooled, out)
    before = [o for p in sorted(out.glob("*.yaml")) for o in objects(p.read_text())]
    spec = tmp_path / "new.yaml"
    first_line = edit.split("\n", 1)[0] + "\n"
    spec.write_text(pooled.read_text().replace(first_line, edit, 1) if edit else pooled.read_text())
    after = objects(stream(spec, *sealed_args("--previous", str(out))))
    old_digests, new_digests = pod_digests(before), pod_digests(after)
    assert {i for i in new_digests if new_digests[i] != old_digests[i]} == rolled
    old, new = sealed_by_name(before), sealed_by_name(after)
    resealed = {n: {k for k in new[n] if new[n][k] != old[n].get(k)} for n in new}
    assert {n: k for n, k in resealed.items() if k} == keys
    diff = run_cli("diff", str(spec), "-o", str(out), *sealed_args())
    assert diff.exit_code == 0, diff.stderr
    named = {
        (line.split()[2].split("/")[1], line.split("spec.encryptedData[")[1].split("]")[0])
        for line in diff.stdout.splitlines()
        if line.startswith("live: SealedSecret") and "spec.encryptedData[" in line
    }
    assert named == {(n, k) for n, ks in keys.items() for k in ks}
    assert "values are not shown" in diff.stdout or not keys
    for line in diff.stdout.splitlines():
        if RECORD_ANNOTATION in line:
            assert line.startswith("no-op: "), line


def test_a_new_ca_is_told_in_sealed_output(tmp_path: Path, pooled: Path) -> None:
    """The sealed ca.crt says nothing; the CA annotation tells diff the members' CA is no longer trusted."""
    out = tmp_path / "out"
    render_dir(pooled, out)
    spec = tmp_path / "new.yaml"
    spec.write_text(pooled.read_text().replace("spec:\n", "spec:\n  tls: {caRotation: 1}\n", 1))
    diff = run_cli("diff", str(spec), "-o", str(out), *sealed_args())
    assert diff.exit_code == 1 and "[new-ca:pooled]" in diff.stdout, diff.stdout[-2000:]


def test_a_new_ca_under_output_written_before_the_annotation_is_a_risk(tmp_path: Path, pooled: Path) -> None:
    """Output of CA 2 (what spec.tls.rotation 2 made before caRotation), without the CA annotation: the
    same spec now makes CA 0, and only the changed sealed ca.crt says so."""
    out = tmp_path / "out"
    before = tmp_path / "before.yaml"
    before.write_text(pooled.read_text().replace("spec:\n", "spec:\n  tls: {caRotation: 2, rotation: 2}\n", 1))
    render_dir(before, out)
    for path in out.rglob("*.yaml"):
        path.write_text(re.sub(r"\n *pgrender\.io/ca: [0-9a-f]+", "", path.read_text()))
    after = tmp_path / "after.yaml"
    after.write_text(pooled.read_text().replace("spec:\n", "spec:\n  tls: {rotation: 2}\n", 1))
    diff = run_cli("diff", str(after), "-o", str(out), *sealed_args())
    assert diff.exit_code == 1 and "does not say which CA it held" in diff.stdout, diff.stdout[-2000:]
    assert "[new-ca:pooled]" in diff.stdout


def sealed_by_name(items: list[Manifest]) -> dict[str, dict[str, str]]:
    return {o["metadata"]["name"]: o["spec"]["encryptedData"] for o in items if o["kind"] == "SealedSecret"}


def test_sealed_rollout_digests_are_keyed(pooled: Path) -> None:
    """Committed digests of Secrets say nothing without the root key: another key, other digests, same values."""
    derived = pod_digests(objects(stream(pooled, "--key-file", str(GOLDEN_KEY))))
    ours = pod_digests(objects(stream(pooled, *sealed_args())))
    assert set(ours) == ALL_PODS
    assert all(ours[i] != derived[i] for i in ours)


def test_diff_knows_the_record_annotation() -> None:
    rules = changes.KIND_RULES["SealedSecret"]
    assert any(RECORD_ANNOTATION in rule.pattern for rule in rules)


# The Argo CD plugin keeps the committed ciphertexts -------------------------------------------------------------


def test_cmp_generate_reads_the_committed_output(repo: Path) -> None:
    assert run_cli("render", "--write").exit_code == 0
    committed = {n: o["spec"]["encryptedData"] for n, o in sealed_secrets(repo / "rendered").items()}
    # The plugin's own key (its Application's env here): pgrender.yaml's keyFile is never the plugin's.
    env = {**os.environ, "ARGOCD_APP_NAMESPACE": "apps", "ARGOCD_ENV_PGRENDER_KEY_FILE": str(GOLDEN_KEY)}
    result = subprocess.run(
        [sys.executable, "-m", "pgrender", "cmp", "generate"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert sealed_by_name(objects(result.stdout)) == committed


def test_check_shows_no_ciphertext_even_sealed_to_another_certificate(tmp_path: Path, pooled: Path) -> None:
    """The sealing certificate comes from the repository: a change of it in a pull request made check
    print every value sealed to the new certificate, into CI logs, for its owner to open. SealedSecrets
    are summarised as Secrets are: which keys changed, never a ciphertext."""
    out = tmp_path / "out"
    render_dir(pooled, out)
    before = {v for s in sealed_secrets(out).values() for v in s["spec"]["encryptedData"].values()}
    other = other_certificate(tmp_path)
    args = ["--key-file", str(GOLDEN_KEY), "--secrets-provider", "sealed", "--sealing-certificate", str(other)]
    result = run_cli("check", str(pooled), "-o", str(out), *args)
    assert result.exit_code == 1
    assert f"{out}/sealedsecret-pooled-pguser-shop.yaml: SealedSecret apps/pooled-pguser-shop: keys changed: " in (
        result.stdout
    )
    render_dir(pooled, tmp_path / "new", "--sealing-certificate", str(other))
    after = {v for s in sealed_secrets(tmp_path / "new").values() for v in s["spec"]["encryptedData"].values()}
    assert after and not any(v[:40] in result.stdout for v in after | before)


@pytest.mark.parametrize("pinned", ["controller", "controller-with-colons", "other"])
def test_a_pinned_key_refuses_another_certificate(
    tmp_path: Path, pooled: Path, monkeypatch: pytest.MonkeyPatch, pinned: str
) -> None:
    """PGRENDER_SEALING_KEY_SHA256, set where the root key is, pins whom values are sealed for: the
    certificate named in pgrender.yaml is the repository's to change."""
    from pgrender.secrets.sealed import PIN_VAR, load_certificate

    digest = load_certificate(str(CERTIFICATE)).fingerprint.hex()
    value = {
        "controller": digest,
        "controller-with-colons": ":".join(digest[i : i + 2] for i in range(0, 64, 2)).upper(),
        "other": "00" * 32,
    }[pinned]
    monkeypatch.setenv(PIN_VAR, value)
    result = run_cli("render", str(pooled), "-o", str(tmp_path / "out"), *sealed_args())
    if pinned == "other":
        assert result.exit_code == 2 and f"its key is not the one {PIN_VAR} pins (this one's SHA-256 is {digest})" in (
            result.stderr
        )
        assert not (tmp_path / "out").exists()
    else:
        assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("kind", ["fifo", "directory", "link-to-a-fifo", "socket"])
def test_a_certificate_pgrender_yaml_names_is_a_regular_file(repo: Path, kind: str) -> None:
    """The repository names it: a FIFO (or /proc/self/fd/0) held the render, and the Argo CD plugin,
    waiting on a read. Each command refuses it at its field, in a process of its own (a read that
    waits fails the test by its timeout rather than holding the suite). Another provider than sealed
    reads no certificate, and is not held by it."""
    import socket

    if kind == "directory":
        (repo / "cert").mkdir()
    elif kind == "socket":
        bound = socket.socket(socket.AF_UNIX)
        bound.bind(str(repo / "cert"))
    else:
        os.mkfifo(repo / "cert")
    name = "cert" if kind != "link-to-a-fifo" else "link"
    if kind == "link-to-a-fifo":
        (repo / "link").symlink_to(repo / "cert")
    config = (repo / "pgrender.yaml").read_text().replace("certificate: sealed-secrets.pem", f"certificate: {name}")
    (repo / "pgrender.yaml").write_text(config)
    column = config.splitlines()[2].index(f"certificate: {name}") + 1  # the field's key
    plugin = {**os.environ, "ARGOCD_APP_NAMESPACE": "apps", "ARGOCD_ENV_PGRENDER_KEY_FILE": str(GOLDEN_KEY)}
    for command in (["render", "--write"], ["check"], ["render", "--stdout"], ["cmp", "generate"]):
        done = subprocess.run(
            [sys.executable, "-m", "pgrender", *command],
            cwd=repo,
            env=plugin if command[0] == "cmp" else None,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, (command, done.stderr)
        assert done.stderr.endswith(
            f"pgrender.yaml:3:{column}: secrets.sealed.certificate: {name!r} is not a regular file that reads "
            "without waiting (a pipe, a socket, a device, a directory, or a file of /proc like one): pgrender.yaml "
            "names a certificate file; pass --sealing-certificate for another kind\n"
        )
    assert not (repo / "rendered").exists()
    derived = ["render", "--stdout", "--secrets-provider", "derived"]
    done = subprocess.run([sys.executable, "-m", "pgrender", *derived], cwd=repo, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
