"""Secrets provider `derived`: every password and key is HKDF-SHA256 of the root key, never random."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pgrender.secrets import Material, SecretInput

Manifest = dict[str, Any]

if TYPE_CHECKING:
    import datetime as dt
    from concurrent.futures import Executor, Future

    from cryptography.hazmat.primitives.asymmetric import ec

    from pgrender.plan import CertificatePlan, ClusterPlan

SALT = b"pgrender/v1"
PASSWORD_LENGTH = 32
PASSWORD_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
SCRAM_ITERATIONS = 4096
CA_KEY_IDENTIFIER = "ca-key-identifier"  # beside the PEM texts in DerivedValues._tls


def hkdf(key: bytes, info: str, length: int) -> bytes:
    """HKDF-SHA256 (RFC 5869) with pgrender's fixed salt."""
    prk = hmac.digest(SALT, key, "sha256")
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.digest(prk, block + info.encode() + bytes([counter]), "sha256")
        out += block
        counter += 1
    return out[:length]


def password_from(material: bytes) -> str:
    """Map derived bytes to an alphanumeric password by rejection sampling (no modulo bias)."""
    limit = 256 - 256 % len(PASSWORD_ALPHABET)
    chars = [PASSWORD_ALPHABET[b % len(PASSWORD_ALPHABET)] for b in material if b < limit]
    if len(chars) < PASSWORD_LENGTH:  # needs ~36 of 64 bytes; cannot fail with 64 bytes in practice
        raise ValueError("not enough derived material for a password")
    return "".join(chars[:PASSWORD_LENGTH])


def scram_verifier(password: str, salt: bytes, iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores; PostgreSQL accepts it as a password as is."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    b64 = base64.b64encode
    return f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}${b64(stored_key).decode()}:{b64(server_key).decode()}"


class DerivedValues:
    """Fills SecretInputs for one cluster from the root key; the CA key never leaves this object.

    With an executor, `prepare` starts the SCRAM verifiers (PBKDF2, which runs without the GIL
    and is most of a render's time) on it, so they overlap with building other clusters.
    """

    def __init__(self, root_key: bytes, plan: ClusterPlan, executor: Executor | None = None) -> None:
        self._key = root_key
        self._plan = plan
        self._executor = executor
        self._values: dict[tuple[Material, str, int, tuple[str, str] | None], str] = {}
        self._verifiers: dict[tuple[str, int, tuple[str, str] | None], Future[str]] = {}

    def _derive(self, purpose: str, rotation: int, length: int, owner: tuple[str, str] | None = None) -> bytes:
        namespace, name = owner or (self._plan.namespace, self._plan.name)
        return hkdf(self._key, f"{namespace}|{name}|{purpose}|{rotation}", length)

    def value(self, item: SecretInput) -> str:
        """Return the text of one secret input, percent-encoded when it goes into a URI."""
        key = (item.material, item.subject, item.rotation, item.owner)
        if key not in self._values:
            self._values[key] = self._compute(item)
        return item.quote(self._values[key])

    def keyed_digest(self, data: bytes) -> bytes:
        """HMAC-SHA256 of ``data`` under a key derived for this cluster: without the root key it tells
        nothing of the values it covers, even guessable ones (a committed digest must be this)."""
        return hmac.digest(self._derive("digest-key", 0, 32), data, "sha256")

    def ca_key_identifier(self) -> str:
        return self._tls[CA_KEY_IDENTIFIER]

    def prepare(self, inputs: Iterable[SecretInput]) -> None:
        """Start computing the verifiers among ``inputs`` on the executor, if there is one."""
        if self._executor is None:
            return
        for item in inputs:
            key = (item.subject, item.rotation, item.owner)
            if item.material is Material.VERIFIER and key not in self._verifiers:
                self._verifiers[key] = self._executor.submit(scram_verifier, *self._scram_input(item))

    def _scram_input(self, item: SecretInput) -> tuple[str, bytes]:
        password = self.value(SecretInput(Material.PASSWORD, item.subject, item.rotation, owner=item.owner))
        return password, self._derive(f"scram-salt:{item.subject}", item.rotation, 16)

    def _compute(self, item: SecretInput) -> str:
        if item.material is Material.PASSWORD:
            return password_from(self._derive(f"password:{item.subject}", item.rotation, 64, item.owner))
        if item.material is Material.VERIFIER:
            started = self._verifiers.get((item.subject, item.rotation, item.owner))
            return started.result() if started else scram_verifier(*self._scram_input(item))
        clone = self._plan.clone_source
        tls = self._clone_source if clone is not None and item.owner == clone.owner else self._tls
        if item.material is Material.CA_CERT:
            return tls["ca"]
        return tls[f"{item.subject}/{item.material.value}"]

    @cached_property
    def _clone_source(self) -> dict[str, str]:
        """A direct clone's way into its source (plan/clone.py): the source's CA, derived for the source
        as the source derives it, and a replication client certificate that CA signs for this clone
        (its key and serial this clone's own)."""
        from pgrender.secrets import x509

        source, tls = self._plan.clone_source, self._plan.tls
        assert source is not None
        ca_key, ca = self._ca(
            source.ca_common_name, source.ca_not_before, source.ca_validity_days, source.ca_rotation, source.owner
        )
        subject = tls.replication.subject
        key = x509.key_pair(self._derive("tls-key:clone-source", tls.rotation, 48))
        cert = x509.leaf(
            key,
            source.common_name,
            (),
            server=False,
            client=True,
            issuer_name=source.ca_common_name,
            ca_key=ca_key,
            ca_key_identifier=x509.authority_key_identifier(ca_key),
            validity=x509.Validity(tls.not_before, tls.validity_days),
            serial=self._serial("clone-source", tls.rotation),
        )
        return {
            "ca": x509.cert_pem(ca),
            f"{subject}/{Material.CERT.value}": x509.cert_pem(cert),
            f"{subject}/{Material.KEY.value}": x509.key_pem(key),
        }

    def _serial(self, purpose: str, rotation: int, owner: tuple[str, str] | None = None) -> int:
        """A positive certificate serial of at most 127 bits, odd (never zero)."""
        return int.from_bytes(self._derive(f"tls-serial:{purpose}", rotation, 16, owner), "big") >> 1 | 1

    def _ca(
        self, common_name: str, not_before: dt.datetime, days: int, rotation: int, owner: tuple[str, str] | None
    ) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
        """The key and certificate (DER) of the CA derived for ``owner`` (None: this cluster)."""
        from pgrender.secrets import x509

        key = x509.key_pair(self._derive("tls-key:ca", rotation, 48, owner))
        return key, x509.certificate_authority(
            key, common_name, x509.Validity(not_before, days), self._serial("ca", rotation, owner)
        )

    @cached_property
    def _tls(self) -> dict[str, str]:
        from pgrender.secrets import x509

        tls = self._plan.tls
        rotation = tls.rotation
        # The CA is this cluster's, or (a streaming standby) its source's: the same certificate.
        ca_key, ca = self._ca(
            tls.ca_common_name, tls.ca_not_before, tls.ca_validity_days, tls.ca_rotation, tls.ca_owner
        )
        ca_key_identifier = x509.authority_key_identifier(ca_key)
        out = {"ca": x509.cert_pem(ca), CA_KEY_IDENTIFIER: ca_key_identifier.hex()}
        leaf_validity = x509.Validity(tls.not_before, tls.validity_days)
        leaves: tuple[CertificatePlan, ...] = tls.leaves
        for leaf in leaves:
            key = x509.key_pair(self._derive(f"tls-key:{leaf.subject}", rotation, 48))
            cert = x509.leaf(
                key,
                leaf.common_name,
                leaf.dns_names,
                leaf.ip_addresses,
                server=leaf.server,
                client=leaf.client,
                issuer_name=tls.ca_common_name,
                ca_key=ca_key,
                ca_key_identifier=ca_key_identifier,
                validity=leaf_validity,
                serial=self._serial(leaf.subject, rotation),
            )
            out[f"{leaf.subject}/{Material.CERT.value}"] = x509.cert_pem(cert)
            out[f"{leaf.subject}/{Material.KEY.value}"] = x509.key_pem(key)
        return out


class _Derived:
    """Secrets in the output, in plaintext: for Argo CD's plugin and --stdout, or a git-ignored
    directory. Values are filled in before ``finish`` (transforms.materialize_secrets)."""

    name = "derived"
    summary = "Secrets in the output, derived from the root key (plaintext; never into git)"
    needs_root_key = True
    writes_plaintext = True

    def owns(self, manifest: Manifest) -> bool:
        return bool(manifest["kind"] == "Secret")

    def finish(self, owned: list[Manifest]) -> list[Manifest]:
        return owned


PROVIDER = _Derived()
