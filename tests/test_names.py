"""plan.names: the rule Kubernetes holds each kind of name to, and every name a plan decides held to it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgrender.cli import cli
from pgrender.errors import SpecError
from pgrender.plan.names import LABEL_VALUE, NAME_RULES, kubernetes_name_problem
from pgrender.plans import validate
from pgrender.render import Request, render
from tests.conftest import GOLDEN_KEY, base_spec, run_cli
from tests.golden_cases import ROOT, Case, cases

VALID_CASES = [c for c in cases() if not c.is_error]


def _objects(case: Case) -> list[dict[str, Any]]:
    rendering = render(Request((str(ROOT / case.spec),), key_file=str(GOLDEN_KEY)))
    return [m for c in rendering.clusters for m in c.manifests]


@pytest.mark.parametrize(
    ("kind", "name", "ok"),
    [
        ("Secret", "hippo-pguser-app", True),
        ("Secret", "hippo-pguser-my_app", False),
        ("Secret", "a.b-c.d", True),
        ("Secret", "1abc", True),
        ("Secret", "abc-", False),
        ("Secret", "a..b", False),
        ("Secret", "Abc", False),
        ("Secret", "a" * 253, True),
        ("Secret", "a" * 254, False),
        ("ConfigMap", "hippo-é", False),
        ("Service", "hippo-primary", True),
        ("Service", "1abc", False),  # DNS-1035: a letter first
        ("Service", "a.b", False),
        ("Service", "a" * 63, True),
        ("Service", "a" * 64, False),
        ("StatefulSet", "a" * 52, True),
        ("StatefulSet", "a" * 53, False),
        ("StatefulSet", "a.b", False),  # its pod's name is a hostname
        ("Job", "a" * 63, True),
        ("Job", "a" * 64, False),
        ("Namespace", "a" * 64, False),
        ("SealedSecret", "hippo-pguser-app", True),  # kinds without an entry: DNS-1123 subdomain
        ("SealedSecret", "a_b", False),
    ],
)
def test_kubernetes_name_problem(kind: str, name: str, ok: bool) -> None:
    problem = kubernetes_name_problem(kind, name)
    assert (problem is None) == ok, problem
    if problem:
        assert kind in problem and repr(name) in problem


def test_every_kind_pgrender_emits_has_a_rule() -> None:
    kinds = {o["kind"] for c in VALID_CASES for o in _objects(c)}
    assert kinds <= set(NAME_RULES)


@pytest.mark.parametrize("case", VALID_CASES, ids=lambda c: c.name)
def test_every_emitted_name_passes(case: Case) -> None:
    """The safety net emit may call must accept every object of a valid plan."""
    for obj in _objects(case):
        assert kubernetes_name_problem(obj["kind"], obj["metadata"]["name"]) is None


def _problems(write_spec: Callable[..., Path], spec: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as info:
        validate((str(write_spec(spec)),))
    return [(p.path, p.message) for p in info.value.problems]


def test_login_user_with_underscore_is_refused_at_its_name(write_spec: Callable[..., Path]) -> None:
    """Its Secret hippo-pguser-my_app would be refused by the API server at apply time."""
    spec = base_spec()
    spec["spec"]["users"] = [{"name": "app"}, {"name": "my_app"}]
    ((path, message),) = _problems(write_spec, spec)
    assert path == "spec.users[1].name"
    assert "'hippo-pguser-my_app'" in message and "DNS-1123 subdomain" in message


def test_role_without_login_may_have_an_underscore(write_spec: Callable[..., Path]) -> None:
    spec = base_spec()
    spec["spec"]["users"] = [{"name": "app"}, {"name": "read_only", "options": {"login": False}}]
    (plan,) = validate((str(write_spec(spec)),))
    assert [u.secret for u in plan.users] == ["hippo-pguser-app", None]


def test_long_namespace_is_refused(write_spec: Callable[..., Path]) -> None:
    spec = base_spec()
    spec["metadata"]["namespace"] = "n" * 64
    ((path, message),) = _problems(write_spec, spec)
    assert path == "metadata.namespace" and "Kubernetes allows 63 for a Namespace" in message


def test_long_cluster_name_says_how_short(write_spec: Callable[..., Path]) -> None:
    spec = base_spec()
    spec["metadata"]["name"] = "h" * 43
    spec["spec"]["instances"][0]["name"] = "a"
    ((path, message),) = _problems(write_spec, spec)
    assert path == "metadata.name" and message.endswith("shorten metadata.name to at most 42 characters")
    spec["metadata"]["name"] = "h" * 42
    validate((str(write_spec(spec)),))


def test_problem_carries_the_line_of_the_field(write_spec: Callable[..., Path]) -> None:
    path = write_spec(
        "apiVersion: pgrender.io/v1alpha1\nkind: PostgresCluster\nmetadata: {name: hippo, namespace: db}\n"
        "spec:\n  postgresVersion: 16\n  instances:\n  - name: x\n    dataVolume: {size: 1Gi}\n"
        "  users:\n  - name: app\n  - name: my_app\n"
    )
    with pytest.raises(SpecError) as info:
        validate((str(path),))
    ((file, line, column, field),) = [(p.file, p.line, p.column, p.path) for p in info.value.problems]
    assert (file, line, column, field) == (str(path), 11, 5, "spec.users[1].name")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("h" * 64, "is not a valid role name"),
        ("h" * 70, "is not a valid role name"),
        ("template1", "'template1' is PostgreSQL's own database"),
        ("postgres", "'postgres' is PostgreSQL's own database"),
    ],
)
def test_default_user_problems_point_at_the_cluster_name(
    write_spec: Callable[..., Path], name: str, expected: str
) -> None:
    """Without spec.users the cluster's name is also a role and a database name; these used to be a
    pydantic traceback (64 characters, template1) or a problem at the absent spec.users[0].name."""
    spec = base_spec()
    spec["metadata"]["name"] = name
    spec["spec"]["instances"][0]["name"] = "a"
    result = run_cli("validate", str(write_spec(spec)))
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert any(re.search(r":4:3: metadata\.name: without spec\.users, .*" + re.escape(expected), ln) for ln in lines)
    assert not [ln for ln in lines if ": spec.users[" in ln], lines


# --- Fuzz: names around every limit, through the real command line -------------------------------

# Lengths around every limit: the longest cluster name (42: its reconcile Job), StatefulSets (52), DNS
# labels (63) and subdomains (253); the explicit ones make the boundaries likely, not just possible.
_LENGTHS = st.one_of(
    st.sampled_from([1, 2, 41, 42, 43, 44, 52, 53, 62, 63, 64, 252, 253, 254]),
    st.integers(1, 80),
    st.integers(250, 260),
)
_ALPHABETS = (
    "abcdefghijklmnopqrstuvwxyz",
    "abcdefghijklmnopqrstuvwxyz0123456789-",
    "abcxyz019-_",
    "abcxyz019-_.ABCXYZ",
    "abcxyz-éßıK\u212a",  # non-ASCII, two of them folding to ASCII letters under casefold/lower
)


@st.composite
def _names(draw: st.DrawFn) -> str:
    size = draw(_LENGTHS)
    if draw(st.booleans()):  # shaped like a DNS label, so that the length alone decides
        body = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789"), min_size=size - 1, max_size=size - 1)
        return draw(st.sampled_from("abcxyz")) + draw(body)
    return draw(st.text(st.sampled_from(draw(st.sampled_from(_ALPHABETS))), min_size=size, max_size=size))


@st.composite
def _specs(draw: st.DrawFn) -> dict[str, Any]:
    def name() -> str:
        # Mostly a short, valid name: a fuzzed field is then the only thing wrong, or nothing is.
        return draw(_names()) if draw(st.integers(0, 2)) == 0 else draw(st.sampled_from(["hippo", "a", "db", "x1"]))

    spec = base_spec()
    spec["metadata"]["name"] = name()
    spec["metadata"]["namespace"] = name()
    spec["spec"]["instances"] = [
        {
            "name": name(),
            "replicas": draw(st.sampled_from([1, 2, 10])),
            "dataVolume": {"size": "1Gi"},
            **({"walVolume": {"size": "1Gi"}} if draw(st.booleans()) else {}),
        }
        for _ in range(draw(st.integers(1, 2)))
    ]
    users = [(name(), draw(st.booleans())) for _ in range(draw(st.integers(0, 2)))]
    if users:
        spec["spec"]["users"] = [{"name": n, "options": {"login": login}} for n, login in users]
        spec["spec"]["databases"] = [{"name": name(), "owner": users[0][0]} for _ in range(draw(st.integers(0, 2)))]
    if draw(st.booleans()):
        spec["spec"]["proxy"] = {"pgBouncer": {"replicas": 2}}
    return spec


_PROBLEM = re.compile(r"(?P<file>.+?):[1-9][0-9]*:[1-9][0-9]*: (?P<path>[A-Za-z][^\s:]*): \S.*")


@settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(spec=_specs())
def test_fuzzed_names_render_or_fail_with_positioned_problems(
    tmp_path_factory: pytest.TempPathFactory, spec: dict[str, Any]
) -> None:
    """Exit 0 with only names Kubernetes accepts, or exit 2 with `file:line:col: path: message`."""
    path = tmp_path_factory.getbasetemp() / "fuzzed.yaml"
    # JSON is YAML: every name stays a string, whatever it looks like.
    path.write_text(json.dumps(spec, indent=2, ensure_ascii=False))
    runner = CliRunner()
    checked = runner.invoke(cli, ["validate", str(path)])
    rendered = runner.invoke(cli, ["render", str(path), "--stdout", "--key-file", str(GOLDEN_KEY)])
    for result in (checked, rendered):
        assert result.exit_code in (0, 2), result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        assert "Traceback" not in result.output
    assert checked.exit_code == rendered.exit_code, (checked.output, rendered.output)
    if rendered.exit_code == 2:
        lines = rendered.stderr.splitlines()
        assert lines and lines == checked.stderr.splitlines()
        for line in lines:
            match = _PROBLEM.fullmatch(line)
            assert match and match["file"] == str(path), line
        return
    for obj in yaml.safe_load_all(rendered.stdout):
        meta = obj["metadata"]
        assert kubernetes_name_problem(obj["kind"], meta["name"]) is None
        assert kubernetes_name_problem("Namespace", meta["namespace"]) is None
        for key, value in meta.get("labels", {}).items():
            assert LABEL_VALUE.problem("label value", value, key) is None
