"""An S3-compatible object store on loopback over HTTPS, for pgBackRest repositories of type s3.

moto's WSGI application (its in-memory S3) served by gunicorn with TLS: Debian's pgBackRest talks
to it unchanged (path-style URIs, the CA of a throwaway certificate given as ``repoN-storage-ca-file``).
moto's own development server (``moto_server --ssl``, Werkzeug) is not used: pgBackRest's PUTs fail
against it.

Everything the server writes (certificates, the WSGI module, gunicorn's control socket and worker
heartbeat files, the log) stays under the ``root`` it is given. The server runs in its own session
and its whole process group is killed on :meth:`S3Server.stop`.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from .harness import HarnessError, ProcessDied, free_ports, wait_until

# The WSGI module gunicorn loads; written into the server's root, so nothing is imported from here.
APP_MODULE = "pgrender_s3_app"
APP_SOURCE = """\
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

app = DomainDispatcherApplication(create_backend_app)
"""


def missing_object_store_requirements() -> list[str]:
    """What this machine lacks to run :class:`S3Server` (empty when all is there)."""
    missing = []
    for module, distribution in (("moto", "moto[server]"), ("flask", "moto[server]"), ("boto3", "boto3")):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"Python package {distribution} (the test extra)")
    if not _gunicorn().exists():
        missing.append("gunicorn next to the Python interpreter (the test extra)")
    return sorted(set(missing))


def _gunicorn() -> Path:
    return Path(sys.executable).parent / "gunicorn"


class ThrowawayCA:
    """A throwaway certificate authority (EC P-256) that issues server and client certificates.

    Certificates (PEM bytes) are valid from yesterday until the day after tomorrow. What OpenSSL (pgBackRest)
    and Python's ssl (boto3) check is there: the CA's basicConstraints/keyUsage, the leaf's
    subjectAltName and extended key usage.
    """

    def __init__(self, common_name: str = "pgrender test CA") -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        now = datetime.datetime.now(datetime.UTC)
        self._validity = (now - datetime.timedelta(days=1), now + datetime.timedelta(days=2))
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        usage = dict.fromkeys(_KEY_USAGES, False) | {"key_cert_sign": True, "crl_sign": True}
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(self._name)
            .issuer_name(self._name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._validity[0])
            .not_valid_after(self._validity[1])
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(**usage), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )

    @property
    def ca_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        common_name: str,
        dns_names: Sequence[str] = (),
        *,
        ip_addresses: Sequence[str] = (),
        server: bool = True,
        client: bool = False,
    ) -> tuple[bytes, bytes]:
        """A leaf certificate and its unencrypted PKCS#8 key, both PEM.

        ``dns_names`` and ``ip_addresses`` make its subjectAltName; ``server``/``client`` select the
        serverAuth/clientAuth extended key usages.
        """
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        usages = [ExtendedKeyUsageOID.SERVER_AUTH] * server + [ExtendedKeyUsageOID.CLIENT_AUTH] * client
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self._name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._validity[0])
            .not_valid_after(self._validity[1])
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
        )
        alt_names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
        alt_names += [x509.IPAddress(ipaddress.ip_address(address)) for address in ip_addresses]
        if alt_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return (
            cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )


_KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


class S3Server:
    """moto's S3 under gunicorn on ``https://localhost:<port>``, with its files under ``root``.

    Use as a context manager (started on entry, stopped on exit) or call :meth:`start` and
    :meth:`stop`. The credentials are fixed test values that moto accepts (it checks none);
    clients verify the server certificate against :attr:`ca_file`.
    """

    endpoint = "localhost"
    region = "us-east-1"
    access_key = "pgrender-test-access-key"
    secret_key = "pgrender-test-secret-key"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = 0
        self.log = root / "gunicorn.log"
        self.ca_file = root / "tls" / "ca.crt"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://{self.endpoint}:{self.port}"

    def start(self, timeout: float = 30) -> None:
        if self.proc is not None:
            raise HarnessError("the object store is already running")
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)  # pgBackRest, as postgres, reads the CA file below it
        ca = ThrowawayCA("pgrender test object store CA")
        cert, key = ca.issue(self.endpoint, [self.endpoint])
        tls = self.root / "tls"
        tls.mkdir(exist_ok=True)
        cert_file, key_file = tls / "server.crt", tls / "server.key"
        for path, content, mode in ((self.ca_file, ca.ca_pem, 0o644), (cert_file, cert, 0o644), (key_file, key, 0o600)):
            path.write_bytes(content)
            path.chmod(mode)  # the CA is read by pgBackRest as postgres; the key only by gunicorn
        (self.root / f"{APP_MODULE}.py").write_text(APP_SOURCE)
        self.port = free_ports(1)[0]
        command = [
            str(_gunicorn()),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--worker-class",
            "gthread",
            # pgBackRest keeps its connections open between requests and takes a server's close
            # of an idle one for a TLS error ("unexpected eof"): idle connections stay open for
            # longer than any test runs, and there are threads for every client holding one.
            "--threads",
            "64",
            "--keep-alive",
            "3600",
            "--certfile",
            str(cert_file),
            "--keyfile",
            str(key_file),
            "--chdir",
            str(self.root),
            "--worker-tmp-dir",
            str(self.root),
            f"{APP_MODULE}:app",
        ]
        # Recent gunicorn opens a control socket at $XDG_RUNTIME_DIR/gunicorn.ctl, else
        # ~/.gunicorn/gunicorn.ctl; all three point into root, so nothing is written outside it
        # (set through the environment, which every gunicorn version reads, rather than a flag).
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env |= {
            "HOME": str(self.root),
            "XDG_RUNTIME_DIR": str(self.root),
            "TMPDIR": str(self.root),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                command,
                cwd=self.root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            wait_until("the object store to answer over HTTPS", self._answers, timeout)
        except BaseException:
            self.stop()
            raise

    def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise ProcessDied(f"gunicorn exited with {self.proc.returncode}:\n{self.log_tail()}")
        context = ssl.create_default_context(cafile=str(self.ca_file))
        with (
            socket.create_connection(("127.0.0.1", self.port), timeout=2) as raw,
            context.wrap_socket(raw, server_hostname=self.endpoint),
        ):
            return True

    def stop(self, timeout: float = 10) -> None:
        """Stop gunicorn and every process of its session (SIGTERM, then SIGKILL)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
        # Workers left behind by a master that did not wait for them: the group goes in any case.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.wait()

    def __enter__(self) -> S3Server:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # -- clients -----------------------------------------------------------------------------

    def client(self) -> Any:
        """A boto3 S3 client for this server (path-style addressing, certificate verified)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            verify=str(self.ca_file),
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key of ``bucket`` under ``prefix``, sorted."""
        paginator = self.client().get_paginator("list_objects_v2")
        keys = [
            obj["Key"] for page in paginator.paginate(Bucket=bucket, Prefix=prefix) for obj in page.get("Contents", [])
        ]
        return sorted(keys)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"
