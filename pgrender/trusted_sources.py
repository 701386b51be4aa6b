"""Sources in another namespace that the holder of the root key trusts (PGRENDER_TRUSTED_SOURCES), and
the one namespace the Argo CD plugin may render clusters in (PGRENDER_PIN_NAMESPACE).

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
# Set in the Argo CD plugin sidecar: every cluster must be in the Application's destination namespace.
PIN_VAR = "PGRENDER_PIN_NAMESPACE"


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


def pinned(environ: Mapping[str, str], namespace: str | None) -> str | None:
    """The namespace every cluster must be in: ``namespace`` (the Application's destination) when the
    sidecar sets PGRENDER_PIN_NAMESPACE to true; None when it does not."""
    value = environ.get(PIN_VAR, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return None
    if value not in ("1", "true", "yes"):
        from pgrender.errors import PgrenderError

        raise PgrenderError(f"{PIN_VAR}={value!r}: expected true or false")
    if not namespace:
        from pgrender.errors import PgrenderError

        raise PgrenderError(f"{PIN_VAR} is set, but Argo CD gave no destination namespace (ARGOCD_APP_NAMESPACE)")
    return namespace


def outside_the_pin(sourced: SourcedCluster, namespace: str | None) -> list[Problem]:
    """A problem when the cluster is not in the pinned ``namespace`` (none when nothing is pinned).

    A cluster's values are derived for its namespace and name: a spec that names another team's
    namespace would get that team's passwords and CA, in the output of an Application that may not
    even apply them there (Argo CD's project refuses the destination, but the manifests are made)."""
    own = sourced.cluster.metadata.namespace
    if namespace is None or own == namespace:
        return []
    return [
        sourced.problem(
            ("metadata", "namespace"),
            f"the plugin renders clusters of namespace {namespace} only (the Application's destination; "
            f"{PIN_VAR} is set in its sidecar): {own} is another namespace; leave metadata.namespace out or "
            f"make it {namespace}",
        )
    ]
