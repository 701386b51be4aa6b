"""Fixtures of the real-process tests: rendered examples brought up as local Patroni clusters.

Each example cluster (hippo: two instances, trio: three with synchronous replication) is rendered
and started once per session (per pytest-xdist worker: `make test` runs four, each file's tests in one
of them) with its own etcd, because bootstrapping is the slow part; tests that
change the cluster (failover, role changes) leave it healthy and as specified when they finish,
and every test first waits for a healthy cluster, so the order of tests does not matter.

These tests must not silently disappear in CI: when something they need is missing they fail if
``CI=true`` and are skipped only otherwise.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from .disaster_recovery import BUCKET, missing_dr_requirements
from .harness import (
    ACTIVE,
    LocalCluster,
    PlainServer,
    local_spec,
    missing_requirements,
    missing_server_requirements,
    missing_upgrade_target_requirements,
    plain_server,
    render_spec,
    running_cluster,
    temp_root,
)
from .object_store import S3Server


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "runtime: starts real etcd/Patroni/PostgreSQL processes from rendered output (tests/runtime)"
    )


def require_runtime(missing: list[str] | None = None) -> None:
    """Fail (in CI) or skip (elsewhere) when this machine cannot run the real processes."""
    missing = missing_requirements() if missing is None else missing
    if not missing:
        return
    message = "runtime tests need: " + "; ".join(missing) + " (scripts/setup-system.sh --runtime installs them)"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


# The modules whose tests take longest together (minutes: `make test` lists the slowest tests), in the
# order the workers start them: `make test` runs `--dist loadfile --no-loadscope-reorder`, so
# pytest-xdist hands out whole files in the order collected, and the run ends when the last long file
# does (by default it would hand out the files with the most tests first, and these have few). The
# other modules follow in their usual order, filling the workers that finish first. A test's module
# order never changes: some modules are one story, in order.
LONGEST_FIRST = (
    "test_copies.py",
    "test_backups.py",
    "test_upgrade.py",
    "test_rollout.py",
    "test_kubernetes_dcs.py",
    "test_reconcile.py",
    "test_restore_in_place.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each module keeps its order


@pytest.fixture(scope="session")
def runtime_root() -> Iterator[Path]:
    """One temporary directory for the whole session, removed at the end."""
    require_runtime()
    root = temp_root()
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def module_root(prefix: str, missing: list[str]) -> Iterator[Path]:
    """A temporary directory for one module's tests, once what they need (``missing``: none of it)
    is there (require_runtime); removed after them."""
    require_runtime(missing)
    root = temp_root(prefix)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def upgrade_root() -> Iterator[Path]:
    """For a module of upgrade tests, which need PostgreSQL 17 beside the default major
    (scripts/setup-pg-upgrade-target.sh) and these tools of both."""
    tools = ("pg_basebackup", "pg_upgrade", "pg_controldata", "vacuumdb")
    yield from module_root("pgrender-upgrade-", missing_upgrade_target_requirements(tools))


@pytest.fixture(scope="module")
def dr_root() -> Iterator[Path]:
    """For a module of disaster-recovery tests (disaster_recovery.py)."""
    yield from module_root("pgrender-dr-", missing_dr_requirements())


@pytest.fixture(scope="module")
def s3(dr_root: Path) -> Iterator[S3Server]:
    """The module's S3 object store, its bucket made."""
    with S3Server(dr_root / "s3") as server:
        server.create_bucket(BUCKET)
        yield server


@pytest.fixture(scope="session")
def server() -> Iterator[PlainServer]:
    """A bare PostgreSQL server of the installed version (TLS on), for what the server makes of
    pgrender's pg_hba rules and parameter values; one per session, in its own directory."""
    require_runtime(missing_server_requirements())
    root = temp_root("pgrender-server-")
    try:
        with plain_server(root) as started:
            yield started
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _cluster(example: str, root: Path) -> Iterator[LocalCluster]:
    rendered = render_spec(local_spec(example), root / "specs" / example)
    with running_cluster(rendered, root / example) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def hippo(runtime_root: Path) -> Iterator[LocalCluster]:
    """examples/hippo.yaml (two instances), up and replicating."""
    yield from _cluster("hippo", runtime_root)


@pytest.fixture(scope="session")
def trio(runtime_root: Path) -> Iterator[LocalCluster]:
    """examples/trio.yaml (three instances, synchronous mode, roles and databases), up and replicating."""
    yield from _cluster("trio", runtime_root)


@pytest.fixture(params=["hippo", "trio"])
def cluster(request: pytest.FixtureRequest) -> LocalCluster:
    """Each example cluster in turn, healthy (one leader, everyone else streaming)."""
    local: LocalCluster = request.getfixturevalue(request.param)
    local.wait_healthy()
    return local


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On failure, attach the tail of every running member's Patroni/PostgreSQL log."""
    report = yield
    if report.failed:
        for local in ACTIVE:
            report.sections.append((f"logs of {local.rendered.name}", local.log_tails()))
    return report
