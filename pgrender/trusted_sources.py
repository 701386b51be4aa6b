"""Sources in another namespace that the holder of the root key trusts (PGRENDER_TRUSTED_SOURCES).

A standby or a clone gets values derived for its source cluster: its users' passwords (the data it
holds has their roles), its CA (certificates a streaming standby shares with it: a superuser client
certificate that the source accepts) and its repository's passphrase. Whoever can have a spec
rendered with the root key could otherwise name any cluster as a source and find those values in a
namespace of their own, which matters where one key serves several teams (an Argo CD plugin, a CI
for many repositories). A source in the cluster's own namespace is the namespace's own; one in
another namespace must be listed here by whoever holds the key: in the environment of the render
(CI's secrets, the plugin sidecar's env), never in the repository, which the spec's author controls
(an Application's plugin env reaches pgrender as ARGOCD_ENV_*, never as this name).
"""

from __future__ import annotations

# The record's quick answer (record.py) reads trusted(): nothing beyond the standard library's light
# parts is imported here (typing neither; mypy takes this name as typing's constant).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from pgrender.errors import Problem
    from pgrender.spec import SourcedCluster

ENV_VAR = "PGRENDER_TRUSTED_SOURCES"


def trusted(environ: Mapping[str, str]) -> frozenset[str]:
    """The entries of PGRENDER_TRUSTED_SOURCES: ``namespace/cluster`` or ``namespace/*``, separated by
    blanks or commas."""
    return frozenset(environ.get(ENV_VAR, "").replace(",", " ").split())


def untrusted_sources(sourced: SourcedCluster, sources: frozenset[str]) -> list[Problem]:
    """A problem for each source of the spec in another namespace that ``sources`` does not list."""
    spec = sourced.cluster.spec
    own = sourced.cluster.metadata.namespace
    standby = spec.standby
    named = (
        (("spec", "standby", "fromCluster"), standby.from_cluster if standby else None),
        (("spec", "standby", "fromBackup"), standby.from_backup if standby else None),
        (("spec", "bootstrap", "fromBackup"), spec.bootstrap.from_backup),
        (("spec", "bootstrap", "fromCluster"), spec.bootstrap.from_cluster),
    )
    problems = []
    for path, source in named:
        if source is None or source.namespace in (None, own):
            continue
        if f"{source.namespace}/{source.cluster}" in sources or f"{source.namespace}/*" in sources:
            continue
        problems.append(
            sourced.problem(
                (*path, "namespace"),
                f"{source.namespace}/{source.cluster} is another namespace's cluster: as a source it has its "
                "passwords, CA and passphrases derived into this one, so the holder of the root key must trust "
                f"it: list it in {ENV_VAR} (namespace/cluster or namespace/*) where the render runs (CI's "
                "secrets, the Argo CD plugin's env), not in the repository",
            )
        )
    return problems
