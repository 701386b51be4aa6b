"""Secrets provider `sealed`: every Secret becomes a Bitnami SealedSecret, sealed offline for the
controller's public certificate, so the output can be committed.

The scheme is the controller's own, followed exactly: ``HybridEncrypt`` in
bitnami-labs/sealed-secrets ``pkg/crypto/crypto.go`` (commit 01b8b0fb30e7), with the label of
``EncryptionLabel`` in ``pkg/apis/sealedsecrets/v1alpha1/sealedsecret_expansion.go`` (commit
3039f670f2b6). Each value of a Secret is sealed on its own:

    session key   32 random bytes (AES-256)
    rsa           RSA-OAEP with SHA-256 (and MGF1-SHA-256, as Go's rsa.EncryptOAEP) of the session key
                  under the certificate's public key, with the label "<namespace>/<name>": the strict
                  scope, the default, selected by having no scope annotation on the SealedSecret
    aes           AES-256-GCM of the value under the session key, with a zero nonce (the key is used
                  once) and no associated data: ciphertext and 16-byte tag
    stored        uint16 big-endian len(rsa) || rsa || aes, in standard base64, in spec.encryptedData

The controller unseals into a Secret with the SealedSecret's name and namespace and the labels,
annotations and type of ``spec.template``: exactly the Secret the derived provider writes. The
certificate is a PEM file (``kubeseal --fetch-cert``) named in pgrender.yaml
(``secrets.sealed.certificate``) or by ``--sealing-certificate``; it is never fetched. Its dates are
not checked: the controller decrypts with its private key whatever the certificate says, and a render
never reads the clock.

Randomness. Sealing needs it: the session key and OAEP's seed. This is the one place where pgrender's
output is not a pure function of its inputs (the session key comes from ``os.urandom``, or the
``random`` a test passes; OAEP's seed comes from OpenSSL and cannot be injected). Committed output
must not change on every render, so a ciphertext is kept for as long as what it seals is unchanged:
pgrender reads its previous output (the directory ``render -o``/``--write`` replaces, the one
``check`` and ``diff`` compare with, or ``--previous DIR``) and reuses a value's ciphertext when the
record beside it says it seals this very value.

The record. The annotation ``pgrender.io/sealed-digests`` of each SealedSecret holds one line per
key, ``<key> <digest>``, where the digest is HMAC-SHA256, truncated to 128 bits, under a key derived
from the root key (HKDF, purpose ``sealed-secrets|record``) over: the SHA-256 of the certificate's
public key, namespace, name, key, the value, and the ciphertext (each length-prefixed). A render keeps
a ciphertext only when the digest it computes for (the new value, that ciphertext) equals the recorded
one; otherwise it seals the value anew, with fresh randomness, and records the new pair.

Why the record leaks nothing:
- The digest key is derived from the root key inside the render and never leaves it: it is not
  written, logged or passed to anything else. Without the root key, HMAC-SHA256 is a pseudorandom
  function: a digest says nothing about the value, not even for guessable values (a Secret's ``user``,
  ``host`` or ``port``, which a plain hash would give away to anyone who tries candidates), and two
  equal values in different places have unrelated digests (namespace, name and key are inputs).
- With the root key nothing is left to leak: every value pgrender seals is derived from it anyway.
- A changed value, another root key, another certificate or another ciphertext all give another
  digest, so a stale, copied or tampered ciphertext is never kept: it is sealed anew. Moving a
  ciphertext to another key, Secret or cluster fails the same way.
Rollout digests (transforms.rollout_digests) of sealed Secrets are keyed the same way
(``DerivedValues.keyed_digest``), so nothing in the committed output is computed from a secret value
but ciphertexts and keyed digests.

Determinism, then, means: the same inputs and the same previous output give byte-identical output,
across processes, hash seeds and time zones; a value that changed (a rotation, a new certificate) gets
a new ciphertext, and only that value. The golden case renders against its own committed output
(tests/golden_cases.py), as a repository renders against its committed directory.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from pgrender.errors import InternalError, PgrenderError
from pgrender.frozen import frozen
from pgrender.secrets.derived import hkdf

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    from pgrender.render import Request

Manifest = dict[str, Any]
Random = Callable[[int], bytes]

API_VERSION = "bitnami.com/v1alpha1"
KIND = "SealedSecret"
RECORD_ANNOTATION = "pgrender.io/sealed-digests"
SESSION_KEY_BYTES = 32
GCM_NONCE = bytes(12)  # zero: each session key seals one value
MIN_RSA_BITS = 2048
RECORD_BYTES = 16
RECORD_PURPOSE = "sealed-secrets|record"
RECORD_CONTEXT = b"pgrender sealed-secrets record v1"
MAX_CERTIFICATE_BYTES = 64 * 1024
NO_CERTIFICATE = (
    "the sealed provider needs the sealed-secrets controller's certificate: set secrets.sealed.certificate "
    "in pgrender.yaml or pass --sealing-certificate FILE (get it once with `kubeseal --fetch-cert > FILE`; "
    "pgrender never fetches it)"
)


# The SHA-256 of the controller's public key (SubjectPublicKeyInfo, DER), set where the root key is
# (CI, the Argo CD plugin): pgrender.yaml names the certificate, and whoever can change the
# repository could otherwise have every value sealed for a key of their own.
PIN_VAR = "PGRENDER_SEALING_KEY_SHA256"


class CertificateError(PgrenderError):
    """The controller's certificate is missing, unreadable, or not an RSA certificate."""


@frozen
class Certificate:
    """The controller's public key, and the SHA-256 of its SubjectPublicKeyInfo (what records bind)."""

    key: RSAPublicKey
    fingerprint: bytes


def read_certificate(path: str) -> bytes:
    """The bytes of the certificate file (up to one past the most load_certificate takes)."""
    with open(path, "rb") as file:
        return file.read(MAX_CERTIFICATE_BYTES + 1)


def load_certificate(path: str, pem: bytes | None = None) -> Certificate:
    """The RSA key of the PEM certificate at ``path``; CertificateError (exit 2) saying what is wrong.
    ``pem``: the file's bytes (read_certificate), read already by a render that records them."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    if pem is None:
        try:
            pem = read_certificate(path)
        except OSError as exc:
            raise CertificateError(f"{path}: cannot read the sealing certificate: {exc.strerror or exc}") from None
    if len(pem) > MAX_CERTIFICATE_BYTES:
        raise CertificateError(f"{path}: larger than {MAX_CERTIFICATE_BYTES} bytes; not a sealing certificate")
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise CertificateError(
            f"{path}: not a PEM certificate; expected the controller's certificate as `kubeseal --fetch-cert` "
            "prints it (-----BEGIN CERTIFICATE-----)"
        ) from None
    key = certificate.public_key()
    if not isinstance(key, RSAPublicKey):
        raise CertificateError(
            f"{path}: the certificate's key is not RSA; the sealed-secrets controller seals with RSA"
        )
    if key.key_size < MIN_RSA_BITS:
        raise CertificateError(f"{path}: a {key.key_size}-bit RSA key is too small (at least {MIN_RSA_BITS})")
    spki = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return Certificate(key, hashlib.sha256(spki).digest())


def encryption_label(namespace: str, name: str) -> bytes:
    """The OAEP label of the strict scope: "<namespace>/<name>" (the controller's EncryptionLabel)."""
    return f"{namespace}/{name}".encode()


def hybrid_encrypt(key: RSAPublicKey, plaintext: bytes, label: bytes, random: Random = os.urandom) -> bytes:
    """The controller's HybridEncrypt: len(rsa) as uint16 big-endian || RSA-OAEP(session key) || AES-GCM."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    session_key = random(SESSION_KEY_BYTES)
    if len(session_key) != SESSION_KEY_BYTES:
        raise InternalError(f"the random source gave {len(session_key)} bytes for a session key")
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label or None)
    sealed_key = key.encrypt(session_key, oaep)
    return struct.pack(">H", len(sealed_key)) + sealed_key + AESGCM(session_key).encrypt(GCM_NONCE, plaintext, None)


# Previous output ------------------------------------------------------------------------------------------------

Earlier = dict[tuple[str, str], dict[str, tuple[str, str]]]  # (namespace, name) → key → (ciphertext, digest)


def earlier_seals(files: Mapping[str, str]) -> Earlier:
    """The ciphertexts and records of the SealedSecrets among a previous output's files.

    Files that cannot be read as YAML, and objects of another shape, are passed over: what they held is
    sealed anew, which is always safe.
    """
    from pgrender import load

    out: Earlier = {}
    for rel in sorted(files):
        text = files[rel]
        if KIND not in text:  # most files: no need to parse them
            continue
        try:
            documents = load.load_bytes(text.encode("utf-8", "surrogateescape"), rel)
        except PgrenderError:
            continue
        for document in documents:
            found = _seals(document.data)
            if found is not None:
                out[found[0]] = found[1]
    return out


def _seals(obj: Any) -> tuple[tuple[str, str], dict[str, tuple[str, str]]] | None:
    if not isinstance(obj, dict) or obj.get("kind") != KIND or obj.get("apiVersion") != API_VERSION:
        return None
    meta, spec = obj.get("metadata"), obj.get("spec")
    if not isinstance(meta, dict) or not isinstance(spec, dict):
        return None
    namespace, name, annotations = meta.get("namespace"), meta.get("name"), meta.get("annotations")
    encrypted = spec.get("encryptedData")
    if not (isinstance(namespace, str) and isinstance(name, str) and isinstance(encrypted, dict)):
        return None
    records = parse_records(annotations.get(RECORD_ANNOTATION) if isinstance(annotations, dict) else None)
    kept = {
        key: (ciphertext, records[key])
        for key, ciphertext in encrypted.items()
        if isinstance(key, str) and isinstance(ciphertext, str) and key in records
    }
    return (namespace, name), kept


def parse_records(text: Any) -> dict[str, str]:
    """``<key> <digest>`` lines → key → digest; anything else in the text is passed over."""
    if not isinstance(text, str):
        return {}
    out = {}
    for line in text.splitlines():
        parts = line.split(" ")
        if len(parts) == 2 and all(parts):
            out[parts[0]] = parts[1]
    return out


def format_records(records: Mapping[str, str]) -> str:
    return "".join(f"{key} {records[key]}\n" for key in sorted(records))


# The provider ---------------------------------------------------------------------------------------------------


class Sealer:
    """Seals Secrets for one certificate, keeping the ciphertexts of unchanged values from ``earlier``."""

    def __init__(
        self, certificate: Certificate, root_key: bytes, earlier: Earlier | None = None, random: Random = os.urandom
    ) -> None:
        self._certificate = certificate
        self._record_key = hkdf(root_key, RECORD_PURPOSE, 32)  # never leaves this object
        self._earlier = earlier or {}
        self._random = random

    def record(self, namespace: str, name: str, key: str, value: bytes, ciphertext: str) -> str:
        """The keyed digest that says ``ciphertext`` seals ``value`` at namespace/name/key for this certificate."""
        fields = (
            RECORD_CONTEXT,
            self._certificate.fingerprint,
            namespace.encode(),
            name.encode(),
            key.encode(),
            value,
            ciphertext.encode(),
        )
        message = b"".join(struct.pack(">I", len(f)) + f for f in fields)
        return hmac.digest(self._record_key, message, "sha256")[:RECORD_BYTES].hex()

    def seal(self, secret: Manifest) -> Manifest:
        """The SealedSecret standing in for ``secret`` (its data already filled in, base64)."""
        meta = secret["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        label = encryption_label(namespace, name)
        earlier = self._earlier.get((namespace, name), {})
        encrypted: dict[str, str] = {}
        records: dict[str, str] = {}
        for key, value in sorted(_plaintexts(secret).items()):
            kept = earlier.get(key)
            if kept is not None and hmac.compare_digest(kept[1], self.record(namespace, name, key, value, kept[0])):
                ciphertext = kept[0]
            else:
                sealed = hybrid_encrypt(self._certificate.key, value, label, self._random)
                ciphertext = base64.b64encode(sealed).decode()
            encrypted[key] = ciphertext
            records[key] = self.record(namespace, name, key, value, ciphertext)
        template: Manifest = {"metadata": _labels_and_annotations(meta)}
        for field in ("type", "immutable"):
            if field in secret:
                template[field] = secret[field]
        own = _labels_and_annotations(meta)
        own["annotations"] = {**own.get("annotations", {}), RECORD_ANNOTATION: format_records(records)}
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": name, "namespace": namespace, **own},
            "spec": {"encryptedData": encrypted, "template": template},
        }


def _plaintexts(secret: Manifest) -> dict[str, bytes]:
    """What the Secret's keys hold, as the API server would store it: data decoded, stringData over it."""
    out = {key: base64.b64decode(value) for key, value in secret.get("data", {}).items()}
    out.update({key: value.encode() for key, value in secret.get("stringData", {}).items()})
    return out


def _labels_and_annotations(meta: Manifest) -> Manifest:
    return {field: dict(meta[field]) for field in ("labels", "annotations") if meta.get(field)}


class _Sealed:
    """Secrets as SealedSecrets; ``configure`` (render.py) gives it the certificate and the previous output."""

    name = "sealed"
    summary = (
        "Bitnami SealedSecrets for the controller's certificate (secrets.sealed.certificate in pgrender.yaml, "
        "or --sealing-certificate); committable"
    )
    needs_root_key = True
    writes_plaintext = False
    reads_previous_output = True  # the ciphertexts of unchanged values are kept (providers.reads_previous_output)
    reads_certificate = True  # providers.reads_certificate

    def __init__(self, sealer: Sealer | None = None) -> None:
        self._sealer = sealer

    def owns(self, manifest: Manifest) -> bool:
        return bool(manifest["kind"] == "Secret")

    def finish(self, owned: list[Manifest]) -> list[Manifest]:
        if self._sealer is None:
            raise InternalError("the sealed provider was used without configure(): render() configures it")
        return [self._sealer.seal(m) for m in owned]

    def configure(self, request: Request, root_key: bytes | None) -> _Sealed:
        """A provider sealing for the request's certificate; CertificateError when it has none."""
        if not request.sealing_certificate:
            raise CertificateError(NO_CERTIFICATE)
        if root_key is None:
            raise InternalError("the sealed provider needs the root key, and render() loads it first")
        path = os.path.expanduser(request.sealing_certificate)
        certificate = load_certificate(path, request.sealing_pem)
        pinned = (os.environ if request.environ is None else request.environ).get(PIN_VAR, "")
        if pinned and pinned.replace(":", "").strip().lower() != certificate.fingerprint.hex():
            raise CertificateError(
                f"{path}: its key is not the one {PIN_VAR} pins (this one's SHA-256 is "
                f"{certificate.fingerprint.hex()}); a repository does not choose whom its Secrets are sealed for: "
                "compare the certificate with `kubeseal --fetch-cert`, then set the pin to it"
            )
        return _Sealed(Sealer(certificate, root_key, earlier_seals(request.previous or {})))


PROVIDER = _Sealed()
