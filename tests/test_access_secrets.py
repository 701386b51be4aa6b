"""access_secrets: <c>-pgaccess-<user> (users[].accessSecret), the libpq environment of one user."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from pgrender.errors import SpecError
from pgrender.plan import ClusterPlan
from pgrender.render import Request, render
from tests.conftest import GOLDEN_KEY, base_spec, find

Objects = Callable[[dict[str, Any]], list[dict[str, Any]]]


def decoded(secret: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def with_users(*users: dict[str, Any], **connectivity: Any) -> dict[str, Any]:
    spec = base_spec()
    spec["spec"]["users"] = list(users)
    if connectivity:
        spec["spec"]["connectivity"] = connectivity
    return spec


def test_keys_are_libpq_environment_variables(objects_of: Objects) -> None:
    objects = objects_of(with_users({"name": "rhino", "databases": ["zoo", "barn"], "accessSecret": True}))
    secret = find(objects, "Secret", "hippo-pgaccess-rhino")
    assert secret["type"] == "Opaque"
    assert secret["metadata"]["labels"]["pgrender.io/pguser"] == "rhino"
    data = decoded(secret)
    user = decoded(find(objects, "Secret", "hippo-pguser-rhino"))
    assert data == {
        "PGHOST": "hippo-primary.db.svc",
        "PGPORT": "5432",
        "PGUSER": "rhino",
        "PGPASSWORD": user["password"],
        "PGDATABASE": "zoo",
        "PGSSLMODE": "verify-full",
        "PGSSLROOTCERT": "/etc/pgrender/hippo/ca.crt",
        "ca.crt": user["ca.crt"],
        "USER_ACCESS": "hippo-primary",
    }
    # the same connection as the user Secret's separate keys
    assert (data["PGHOST"], data["PGPORT"], data["PGDATABASE"]) == (user["host"], user["port"], user["dbname"])


@pytest.mark.parametrize(
    ("user", "connectivity", "expected"),
    [
        ({"name": "ops"}, {}, {"PGDATABASE": None, "PGSSLROOTCERT": "/etc/pgrender/hippo/ca.crt"}),
        (
            {"name": "ops", "databases": ["x"]},
            {"secretMountPath": "/var/run/db"},
            {"PGDATABASE": "x", "PGSSLROOTCERT": "/var/run/db/ca.crt"},
        ),
    ],
)
def test_database_and_ca_path(
    objects_of: Objects, user: dict[str, Any], connectivity: dict[str, str], expected: dict[str, str | None]
) -> None:
    objects = objects_of(with_users({**user, "accessSecret": True}, **connectivity))
    data = decoded(find(objects, "Secret", "hippo-pgaccess-ops"))
    assert {key: data.get(key) for key in expected} == expected
    uri = decoded(find(objects, "Secret", "hippo-pguser-ops"))["uri"]
    assert uri.endswith(f"sslrootcert={expected['PGSSLROOTCERT']}")


def test_only_users_that_ask_get_one(objects_of: Objects) -> None:
    objects = objects_of(with_users({"name": "a", "accessSecret": True}, {"name": "b"}))
    names = sorted(
        o["metadata"]["name"] for o in objects if o["kind"] == "Secret" and "-pgaccess-" in o["metadata"]["name"]
    )
    assert names == ["hippo-pgaccess-a"]
    assert not [o for o in objects_of(base_spec()) if "-pgaccess-" in o["metadata"]["name"]]


def test_rotation_changes_the_password(objects_of: Objects) -> None:
    before = decoded(find(objects_of(with_users({"name": "a", "accessSecret": True})), "Secret", "hippo-pgaccess-a"))
    spec = with_users({"name": "a", "accessSecret": True, "passwordRotation": 1})
    after = objects_of(spec)
    assert decoded(find(after, "Secret", "hippo-pgaccess-a"))["PGPASSWORD"] != before["PGPASSWORD"]
    assert (
        decoded(find(after, "Secret", "hippo-pgaccess-a"))["PGPASSWORD"]
        == decoded(find(after, "Secret", "hippo-pguser-a"))["password"]
    )


def test_the_name_is_decided_in_the_plan(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    plan = plan_of(with_users({"name": "a", "accessSecret": True}, {"name": "b"}))
    assert [(u.name, u.access_secret) for u in plan.users] == [("a", "hippo-pgaccess-a"), ("b", None)]
    assert plan.names.pgaccess_secret("a") == "hippo-pgaccess-a"


def test_a_role_without_login_is_refused(write_spec: Callable[..., Any]) -> None:
    spec = with_users({"name": "a", "accessSecret": True, "options": {"login": False}})
    with pytest.raises(SpecError) as exc:
        render(Request((str(write_spec(spec)),), key_file=str(GOLDEN_KEY)))
    (problem,) = exc.value.problems
    assert problem.path == "spec.users[0].accessSecret"
    assert "cannot log in" in problem.message


def test_the_name_is_claimed(write_spec: Callable[..., Any]) -> None:
    # Cluster hippo-pgaccess writes the Secret hippo-pgaccess-patroni (its REST API credentials).
    spec = with_users({"name": "patroni", "accessSecret": True})
    other = base_spec()
    other["metadata"]["name"] = "hippo-pgaccess"
    with pytest.raises(SpecError) as exc:
        render(Request((str(write_spec(spec)), str(write_spec(other))), key_file=str(GOLDEN_KEY)))
    messages = [p.message for p in exc.value.problems]
    assert messages and all("Secret db/hippo-pgaccess-patroni is also made by" in m for m in messages), messages


def test_existing_provider_leaves_it_out(write_spec: Callable[..., Any]) -> None:
    path = str(write_spec(with_users({"name": "a", "accessSecret": True})))
    left = render(Request((path,), provider="existing"))
    assert not [m for c in left.clusters for m in c.manifests if m["kind"] == "Secret"]
    only = render(Request((path,), key_file=str(GOLDEN_KEY), only_secrets=True))
    names = [m["metadata"]["name"] for c in only.clusters for m in c.manifests]
    assert "hippo-pgaccess-a" in names
