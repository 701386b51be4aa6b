"""Kubelet's liveness probe, answered where Patroni's REST API will listen while a member's container
does slow work before Patroni starts: the upgrade guard (pg_upgrade), the restore guard (waiting for
the others), the WAL mover (pg_wal copied onto a WAL volume added since). Shipped in ConfigMap
<c>-config beside them, run with the image's python3; nothing of pgrender is imported."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PROBE_SECONDS = 10.0  # what a client of the probe server has to say its request in (kubelet: at once)


def patroni_config(config_dir: str) -> dict[str, Any]:
    """Patroni's configuration as Patroni reads it: the directory's files and the PATRONI_* variables."""
    from patroni.config import Config  # type: ignore[import-not-found]

    config: dict[str, Any] = Config(config_dir, validator=None).copy()
    return config


def listen_address(listen: str) -> tuple[socket.AddressFamily, tuple[str, int]]:
    """Where Patroni's REST API would listen for ``restapi.listen`` (host:port; ``*`` or nothing: every
    address), as Patroni picks it: IPv6 first where the host has both (one socket then takes IPv4 too),
    so that kubelet reaches it at the pod's address, of either family."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    found = socket.getaddrinfo(
        None if host in ("", "*") else host, int(port), socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
    )
    found.sort(key=lambda info: info[0] != (socket.AF_INET6 if dual_stack() else socket.AF_INET))
    family, _, _, _, address = found[0]
    return family, (str(address[0]), int(address[1]))


def dual_stack() -> bool:
    """Whether an IPv6 socket here can take IPv4 connections too."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        return True
    except OSError:
        return False


class Probes:
    """HTTPS where Patroni's REST API listens, with its certificate: /liveness 200 (the container is
    doing its work), anything else 503 (not ready). Closed before Patroni starts there. Each connection
    has a thread of its own, its TLS handshake too, with a time limit: a client that connects and says
    nothing keeps no probe from being answered (kubelet would kill the container)."""

    def __init__(self, restapi: dict[str, Any]) -> None:
        family, address = listen_address(str(restapi["listen"]))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(restapi["certfile"], restapi["keyfile"])

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200 if self.path.split("?")[0] == "/liveness" else 503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # kubelet probes every few seconds
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            address_family = family

            def server_bind(self) -> None:
                if self.address_family == socket.AF_INET6:  # IPv4 too, where the host has both (dual stack)
                    with contextlib.suppress(OSError):
                        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                super().server_bind()

            def finish_request(self, request: Any, client_address: Any) -> None:  # in the connection's thread
                request.settimeout(PROBE_SECONDS)
                try:
                    connection = context.wrap_socket(request, server_side=True)
                except OSError:  # no TLS client, or a silent one
                    return
                try:
                    super().finish_request(connection, client_address)
                finally:
                    connection.close()

            def handle_error(self, request: Any, client_address: Any) -> None:  # a client that went away
                pass

        self.server = Server(address, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def answered(config_dir: str) -> Iterator[dict[str, Any]]:
    """The probe answered while the block runs, at the address Patroni's configuration in ``config_dir``
    names; the configuration is the block's."""
    config = patroni_config(config_dir)
    probes = Probes(config["restapi"])
    try:
        yield config
    finally:
        probes.close()
