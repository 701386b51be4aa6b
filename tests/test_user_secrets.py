"""user_secrets: <c>-pguser-<user> with PGO's keys; URIs verify the server's name."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.conftest import base_spec, find


def decoded(secret: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def test_default_user_is_the_cluster(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    data = decoded(find(objects_of(base_spec()), "Secret", "hippo-pguser-hippo"))
    assert sorted(data) == [
        "ca.crt",
        "dbname",
        "host",
        "jdbc-uri",
        "password",
        "port",
        "uri",
        "user",
        "verifier",
    ]
    assert (data["user"], data["dbname"], data["host"], data["port"]) == (
        "hippo",
        "hippo",
        "hippo-primary.db.svc",
        "5432",
    )
    uri = urlsplit(data["uri"])
    assert (uri.scheme, uri.hostname, uri.port, uri.path, uri.query) == (
        "postgresql",
        "hippo-primary.db.svc",
        5432,
        "/hippo",
        "sslmode=verify-full&sslrootcert=/etc/pgrender/hippo/ca.crt",
    )
    assert unquote(uri.password or "") == data["password"]
    assert data["jdbc-uri"] == (
        f"jdbc:postgresql://hippo-primary.db.svc:5432/hippo?password={data['password']}"
        "&sslmode=verify-full&sslrootcert=/etc/pgrender/hippo/ca.crt&user=hippo"
    )
    assert data["verifier"].startswith("SCRAM-SHA-256$4096:")
    assert data["ca.crt"].startswith("-----BEGIN CERTIFICATE-----")


def test_users_and_rotation(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    spec = base_spec()
    spec["spec"]["users"] = [
        {"name": "rhino", "databases": ["zoo", "park"]},
        {"name": "auditor", "options": {"login": False}},
        {"name": "tools"},
    ]
    objects = objects_of(spec)
    rhino = decoded(find(objects, "Secret", "hippo-pguser-rhino"))
    assert rhino["dbname"] == "zoo"
    assert "dbname" not in decoded(find(objects, "Secret", "hippo-pguser-tools"))
    assert not [o for o in objects if o["metadata"]["name"] == "hippo-pguser-auditor"], "NOLOGIN roles get no Secret"
    assert rhino["password"] != decoded(find(objects, "Secret", "hippo-pguser-tools"))["password"]

    spec["spec"]["users"][0]["passwordRotation"] = 1
    rotated = decoded(find(objects_of(spec), "Secret", "hippo-pguser-rhino"))
    assert rotated["password"] != rhino["password"] and rotated["verifier"] != rhino["verifier"]
    assert (
        decoded(find(objects_of(spec), "Secret", "hippo-pguser-tools"))["password"]
        == decoded(find(objects, "Secret", "hippo-pguser-tools"))["password"]
    ), "rotating one user leaves the others alone"
