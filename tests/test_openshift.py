"""spec.openshift: no fixed user, group or fsGroup in any pod pgrender writes, so OpenShift's
restricted-v2 SCC assigns them; the rest of the restricted profile stays. Checked over every pod of
the rendered output of several specs (database pods, pgBouncer, Jobs, CronJobs, the repository host)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pgrender.config import SecretsConfig
from pgrender.errors import SpecError
from pgrender.plans import validate
from pgrender.render import Request, render
from tests.conftest import EXAMPLES, GOLDEN, GOLDEN_KEY, base_spec

Manifest = dict[str, Any]
IDS = ("runAsUser", "runAsGroup", "fsGroup")
EXTERNAL = SecretsConfig.model_validate(
    {"provider": "external", "external": {"store": {"kind": "ClusterSecretStore", "name": "vault"}}}
)
# (spec, secrets provider settings): together every kind of pod pgrender writes.
SPECS: dict[str, tuple[Path, SecretsConfig | None]] = {
    "pooled": (EXAMPLES / "pooled.yaml", None),  # members, pgBouncer, the reconcile Job
    "backups": (EXAMPLES / "backups.yaml", None),  # backup CronJobs and Jobs, logical backup, repository host
    "standby": (EXAMPLES / "standby.yaml", None),
    "restore": (EXAMPLES / "restore.yaml", None),
    "external": (GOLDEN / "external-pooled" / "spec.yaml", EXTERNAL),  # the password CronJob
    "cert-manager": (GOLDEN / "tls-cert-manager" / "spec.yaml", None),  # certificate reloaders
}
POD_KINDS = ("StatefulSet", "Deployment", "Job", "CronJob")


def _pods(name: str, openshift: bool, tmp_path: Path) -> dict[str, Manifest]:
    """ "<Kind>/<name>" -> pod spec, for every workload the spec renders to."""
    path, settings = SPECS[name]
    spec = yaml.safe_load(path.read_text())
    spec["spec"]["openshift"] = openshift
    written = tmp_path / "spec.yaml"
    written.write_text(yaml.safe_dump(spec))
    provider = settings.provider if settings else "derived"
    rendering = render(Request((str(written),), str(GOLDEN_KEY), provider=provider, secrets_settings=settings))
    out = {}
    for obj in (m for c in rendering.clusters for m in c.manifests):
        if obj["kind"] in POD_KINDS:
            spec = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
            out[f"{obj['kind']}/{obj['metadata']['name']}"] = spec["template"]["spec"]
    return out


def _containers(pod: Manifest) -> list[Manifest]:
    return [*pod.get("initContainers", []), *pod["containers"]]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_openshift_leaves_ids_to_the_scc(name: str, tmp_path: Path) -> None:
    pods = _pods(name, True, tmp_path)
    assert pods
    for where, pod in pods.items():
        context = pod["securityContext"]
        assert not set(IDS) & set(context), where
        assert context["runAsNonRoot"] is True, where
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, where
        for container in _containers(pod):
            own = container["securityContext"]
            assert not set(IDS) & set(own), (where, container["name"])
            assert own["capabilities"] == {"drop": ["ALL"]}, (where, container["name"])
            assert own["allowPrivilegeEscalation"] is False, (where, container["name"])
            assert own["runAsNonRoot"] is True, (where, container["name"])


@pytest.mark.parametrize("name", sorted(SPECS))
def test_without_openshift_every_pod_has_its_ids(name: str, tmp_path: Path) -> None:
    for where, pod in _pods(name, False, tmp_path).items():
        assert set(IDS) <= set(pod["securityContext"]), where


# Which pods get which ids without spec.openshift: the image contract's, pgBouncer's own.
@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("StatefulSet/pooled-db-0", {"runAsUser": 101, "runAsGroup": 103, "fsGroup": 103}),
        ("Deployment/pooled-pgbouncer", {"runAsUser": 998, "runAsGroup": 996, "fsGroup": 996}),
    ],
)
def test_ids_without_openshift(where: str, expected: dict[str, int], tmp_path: Path) -> None:
    context = _pods("pooled", False, tmp_path)[where]["securityContext"]
    assert {k: context[k] for k in IDS} == expected


# Ids given with spec.openshift would be dropped: the spec says so instead.
@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"imageContract": {"runAsUser": 26}}, "spec.imageContract.runAsUser"),
        ({"imageContract": {"fsGroup": 26}}, "spec.imageContract.fsGroup"),
        ({"proxy": {"pgBouncer": {"runAsGroup": 70}}}, "spec.proxy.pgBouncer.runAsGroup"),
    ],
)
def test_ids_with_openshift_are_refused(change: Manifest, path: str, tmp_path: Path) -> None:
    spec = base_spec()
    spec["spec"] |= {"openshift": True, **change}
    written = tmp_path / "spec.yaml"
    written.write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError) as info:
        validate((str(written),))
    assert [(p.path, "SCC assigns" in p.message) for p in info.value.problems] == [(path, True)]
