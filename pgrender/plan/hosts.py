"""Service DNS names and certificate SAN lists."""

from __future__ import annotations


def dns_forms(service: str, namespace: str, domain: str) -> tuple[str, ...]:
    """The four names a Service answers to, longest first (PGO's order)."""
    return (
        f"{service}.{namespace}.svc.{domain}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}",
        service,
    )


def pod_dns_forms(pod: str, headless: str, namespace: str, domain: str) -> tuple[str, ...]:
    """The names of a pod under its headless Service."""
    return dns_forms(f"{pod}.{headless}", namespace, domain)


def service_host(service: str, namespace: str) -> str:
    """The host written into credentials: <svc>.<ns>.svc, without the cluster domain (as PGO)."""
    return f"{service}.{namespace}.svc"


def member_address(headless: str, port: int) -> str:
    """A Patroni member's own address: its pod name under the headless Service.

    $(PATRONI_NAME) is expanded by the kubelet from the pod's environment.
    """
    return f"$(PATRONI_NAME).{headless}:{port}"
