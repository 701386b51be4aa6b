"""A cluster rendered with the secrets provider ``external``: passwords from a store log in.

examples/hippo.yaml with two users is rendered with ``secrets.provider: external``. The store is a
dict: every value the derived provider would make (certificates, Patroni's password), under the
remote key convention, except the users' passwords, which this test chooses: one full of what a
URI must percent-encode, one that SASLprep changes. External Secrets Operator is the harness's
stand-in (``harness.external_secrets``: ``localize``, 9.), which evaluates each ExternalSecret's
template; the cluster, the reconcile Job and CronJob <c>-passwords run as rendered. The Job computes
each verifier from the Secret's password; a client logs in with the ``uri`` of the Secret, mounted
where ``connectivity.secretMountPath`` says (the URI names ``sslrootcert`` there).
"""

from __future__ import annotations

import shutil
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgrender.config import SecretsConfig
from tests.eso import derived_store

from .harness import (
    KEY_FILE,
    LocalCluster,
    client_psql,
    external_secrets,
    local_spec,
    loopback_uri,
    pod_spec_of,
    render_spec,
    running_cluster,
    wait_until,
    write_secret,
)

pytestmark = pytest.mark.runtime

SETTINGS = SecretsConfig.model_validate({"provider": "external", "external": {"store": {"name": "vault"}}})
NAMESPACE = "postgres-operator"
APP_PASSWORD = "p@ss w:rd/?#&=+%\"'\\ {{x}} ~"  # every character a URI, .pgpass or a template must take care of
INTL_PASSWORD = "pässwörd \u2168 \u00aa"  # SASLprep: NFKC makes "IX" and "a" of the last two
ROTATED = "rotated: 100% new"
SNAPSHOT = "SELECT xmin, rolname, rolpassword FROM pg_authid ORDER BY rolname"


def store_key(user: str) -> tuple[str, str]:
    return (f"{NAMESPACE}/hippo/{user}", "password")


@pytest.fixture(scope="module")
def external(runtime_root: Path) -> Iterator[tuple[LocalCluster, dict[tuple[str, str], str], Path]]:
    spec = local_spec("hippo")
    mount = runtime_root / "external-app-secret"
    spec["spec"]["users"] = [{"name": "app", "databases": ["app"]}, {"name": "intl", "databases": ["app"]}]
    spec["spec"]["connectivity"] = {"secretMountPath": str(mount)}
    directory = runtime_root / "specs" / "external"
    rendered = render_spec(spec, directory, secrets=SETTINGS)
    assert not rendered.all("Secret") and rendered.all("ExternalSecret")
    store = derived_store(str(directory / "spec.yaml"), str(KEY_FILE), SETTINGS.external)
    store[store_key("app")], store[store_key("intl")] = APP_PASSWORD, INTL_PASSWORD
    with running_cluster(external_secrets(rendered, store), runtime_root / "external") as cluster:
        cluster.wait_healthy()
        job = cluster.run_job(runtime_root / "external-job")
        assert job.returncode == 0, job.stdout + job.stderr
        for text in (job.stdout, job.stderr):
            assert APP_PASSWORD not in text and urllib.parse.quote(APP_PASSWORD, safe="") not in text
        yield cluster, store, mount


def login(cluster: LocalCluster, user: str, mount: Path) -> tuple[int, str]:
    """Log in with the uri of the user's Secret, mounted at secretMountPath; (exit code, output or error)."""
    leader = cluster.wait_healthy()
    secret = f"hippo-pguser-{user}"
    shutil.rmtree(mount, ignore_errors=True)
    write_secret(cluster.rendered, secret, mount)
    uri = cluster.rendered.secret(secret)["uri"].decode()
    assert f"sslrootcert={mount}/ca.crt" in uri
    result = client_psql(
        loopback_uri(uri, leader.pg_port), "SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
    )
    return result.returncode, (result.stdout if result.returncode == 0 else result.stderr).strip()


@pytest.mark.parametrize(("user", "password"), [("app", APP_PASSWORD), ("intl", INTL_PASSWORD)])
def test_a_password_from_the_store_logs_in_through_the_secrets_uri(
    external: tuple[LocalCluster, dict[tuple[str, str], str], Path], user: str, password: str
) -> None:
    cluster, _, mount = external
    secret = cluster.rendered.secret(f"hippo-pguser-{user}")
    assert secret["password"].decode() == password
    assert urllib.parse.quote(password, safe="") in secret["uri"].decode()
    assert "verifier" not in secret
    assert login(cluster, user, mount) == (0, f"{user}\tt")


def test_the_job_run_again_rewrites_no_password(
    external: tuple[LocalCluster, dict[tuple[str, str], str], Path],
) -> None:
    """A stored verifier that belongs to the Secret's password is kept, not salted anew."""
    cluster, _, _ = external
    leader = cluster.wait_healthy()
    before = leader.psql(SNAPSHOT)
    job = cluster.run_job(cluster.root / "job-again")
    assert job.returncode == 0, job.stdout + job.stderr
    assert leader.psql(SNAPSHOT) == before


def test_a_password_rotated_in_the_store_reaches_the_database_through_the_cron_job(
    external: tuple[LocalCluster, dict[tuple[str, str], str], Path],
) -> None:
    """The store changes app's password; ESO rewrites the Secret (the stand-in), the old password
    still logs in until CronJob hippo-passwords runs, and then only the new one does."""
    cluster, store, mount = external
    (cron_job,) = [c for c in cluster.rendered.all("CronJob") if c["metadata"]["name"] == "hippo-passwords"]
    container = pod_spec_of(cron_job)["containers"][0]["name"]

    def run_cron_job(run: int) -> None:
        leader = cluster.wait_healthy()
        pod = cluster.pod_container(
            cron_job, container, root=cluster.root / f"passwords-{run}", postgres_port=leader.pg_port
        )
        result = pod.run_once()
        assert result.returncode == 0, result.stdout + result.stderr
        assert ROTATED not in result.stdout + result.stderr

    try:
        old = dict(store)
        store[store_key("app")] = ROTATED
        cluster.apply(external_secrets(cluster.rendered, store))
        leader = cluster.wait_healthy()
        old_uri = loopback_uri(
            external_secrets(cluster.rendered, old).secret("hippo-pguser-app")["uri"].decode(), leader.pg_port
        )
        write_secret(cluster.rendered, "hippo-pguser-app", mount)
        assert client_psql(old_uri, "SELECT 1").returncode == 0  # the database has not seen the store yet
        run_cron_job(1)
        assert login(cluster, "app", mount) == (0, "app\tt")
        assert client_psql(old_uri, "SELECT 1").returncode != 0
        assert login(cluster, "intl", mount) == (0, "intl\tt")  # the others keep theirs
    finally:
        store[store_key("app")] = APP_PASSWORD
        cluster.apply(external_secrets(cluster.rendered, store))
        run_cron_job(2)
        wait_until("app's own password again", lambda: login(cluster, "app", mount)[0] == 0, 10)
