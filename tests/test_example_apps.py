"""examples/apps/: applications of the example clusters, as README "Connecting an application" shows.

Each is a valid Kubernetes object (strict schemas), names only Secrets and keys the examples render,
and mounts a user or access Secret exactly at the directory its URIs' sslrootcert names.
(tests/runtime/test_clients.py runs examples/apps/shop-deployment.yaml with real clients.)
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import kubernetes_validate
import pytest
import yaml

from pgrender.render import Request, render
from tests.conftest import EXAMPLES, GOLDEN_KEY

APPS = sorted((EXAMPLES / "apps").glob("*.yaml"))
VERSIONS = ("1.28", kubernetes_validate.latest_version())


def rendered_secrets() -> dict[tuple[str, str], dict[str, str]]:
    """(namespace, name) -> decoded data of every Secret the example clusters render."""
    rendering = render(Request(tuple(str(p) for p in sorted(EXAMPLES.glob("*.yaml"))), key_file=str(GOLDEN_KEY)))
    return {
        (m["metadata"]["namespace"], m["metadata"]["name"]): {
            k: base64.b64decode(v).decode() for k, v in m.get("data", {}).items()
        }
        for cluster in rendering.clusters
        for m in cluster.manifests
        if m["kind"] == "Secret"
    }


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_there_are_apps() -> None:
    assert [p.name for p in APPS] == ["shop-deployment.yaml"]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("app", APPS, ids=lambda p: p.stem)
def test_strict_schema(app: Path, version: str) -> None:
    for obj in documents(app):
        kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize("app", APPS, ids=lambda p: p.stem)
def test_references_what_the_examples_render(app: Path) -> None:
    secrets = rendered_secrets()
    for obj in documents(app):
        namespace = obj["metadata"]["namespace"]
        pod = obj["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in pod["containers"]:
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[(namespace, ref["name"])], entry
            for source in container.get("envFrom", []):
                assert (namespace, source["secretRef"]["name"]) in secrets, source
            for mount in container.get("volumeMounts", []):
                data = secrets[(namespace, volumes[mount["name"]]["secret"]["secretName"])]
                # The directory the Secret's own URIs (or PGSSLROOTCERT) name for ca.crt.
                if "uri" in data:
                    (root_cert,) = parse_qs(urlsplit(data["uri"]).query)["sslrootcert"]
                else:
                    root_cert = data["PGSSLROOTCERT"]
                assert root_cert == f"{mount['mountPath']}/ca.crt"
                assert "ca.crt" in data
