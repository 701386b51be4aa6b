"""Naming profiles (spec.naming): the Secret names and keys, Service names and labels an operator's
applications expect, so they keep working unchanged on a pgrender cluster.

One profile per operator, registered by name in PROFILES; ``names.Names`` reads the one a cluster
uses. Facts: ../shared/reference/operators.md (PGO §1.7, Zalando §2.1, CloudNativePG §3.2-3.3, EDB
PGD §4). What a profile does not change (the Patroni scope <c>-ha and its runtime ConfigMaps, the
headless <c>-pods Service, Job and ConfigMap names) is pgrender's own in every profile.
"""

from __future__ import annotations

from pgrender.frozen import frozen
from pgrender.plan.labels import ROLE_LABEL
from pgrender.spec.rules.connectivity import Naming


@frozen
class NamingProfile:
    """Templates take {cluster} (and {user}); a Service name gets spec.connectivity.dns.hostSuffix."""

    name: Naming
    primary_service: str
    replicas_service: str
    pgbouncer: str  # Deployment, Service, ConfigMap, Secret of pgBouncer
    # The same of the replicas' pgBouncer (spec.proxy.pgBouncerReplicas): Zalando's replica pooler,
    # CloudNativePG's Pooler of type ro; pgrender's own name where the operator has none.
    pgbouncer_replicas: str
    user_secret: str
    # The first login role's Secret, where the operator names one application Secret (<c>-app).
    app_secret: str | None = None
    any_service: str | None = None  # a Service over every member (CloudNativePG -r, PGD's group service)
    member_services: bool = False  # a Service per member, named after it (EDB PGD's node services)
    ca_secret: str | None = None  # a Secret with only ca.crt, where apps expect one (CloudNativePG <c>-ca)
    default_user: str | None = None  # without spec.users: None names user and database after the cluster
    role_label: str | None = None  # the pod label Patroni writes (master/replica); None: pgrender's
    labels: tuple[tuple[str, str], ...] = ()  # on every object, value templates take {cluster}
    secret_type: str = "Opaque"
    username_key: bool = False  # the user's name also under "username"
    # CloudNativePG's <c>-app: host is the short Service name, uri names <svc>.<ns>, and pgpass,
    # fqdn-uri and fqdn-jdbc-uri are there too.
    cnpg_keys: bool = False
    dash_underscores: bool = False  # Zalando writes '-' for '_' of a user's name in its Secret's name

    def user_secret_name(self, cluster: str, user: str, first: bool) -> str:
        if first and self.app_secret:
            return self.app_secret.format(cluster=cluster)
        return self.user_secret.format(cluster=cluster, user=user.replace("_", "-") if self.dash_underscores else user)

    def cluster_labels(self, cluster: str) -> dict[str, str]:
        return {key: value.format(cluster=cluster) for key, value in self.labels}


PROFILES: dict[Naming, NamingProfile] = {
    Naming.PGO: NamingProfile(
        Naming.PGO,
        primary_service="{cluster}-primary",
        replicas_service="{cluster}-replicas",
        pgbouncer="{cluster}-pgbouncer",
        pgbouncer_replicas="{cluster}-pgbouncer-replicas",
        user_secret="{cluster}-pguser-{user}",
    ),
    Naming.ZALANDO: NamingProfile(
        Naming.ZALANDO,
        primary_service="{cluster}",
        replicas_service="{cluster}-repl",
        pgbouncer="{cluster}-pooler",
        pgbouncer_replicas="{cluster}-pooler-repl",
        user_secret="{user}.{cluster}.credentials.postgresql.acid.zalan.do",
        # Patroni writes master/replica, the values Zalando's spilo-role label has.
        role_label="spilo-role",
        labels=(("application", "spilo"), ("cluster-name", "{cluster}")),
        username_key=True,
        dash_underscores=True,
    ),
    Naming.CNPG: NamingProfile(
        Naming.CNPG,
        primary_service="{cluster}-rw",
        replicas_service="{cluster}-ro",
        any_service="{cluster}-r",
        pgbouncer="{cluster}-pooler-rw",
        pgbouncer_replicas="{cluster}-pooler-ro",
        user_secret="{cluster}-pguser-{user}",
        app_secret="{cluster}-app",
        ca_secret="{cluster}-ca",
        default_user="app",
        labels=(("cnpg.io/cluster", "{cluster}"),),
        secret_type="kubernetes.io/basic-auth",
        username_key=True,
        cnpg_keys=True,
    ),
    Naming.PGD: NamingProfile(
        Naming.PGD,
        # The proxy service: the group's name (and host suffix) reaches the write leader.
        primary_service="{cluster}",
        replicas_service="{cluster}-proxy-r",
        any_service="{cluster}-group",
        member_services=True,
        pgbouncer="{cluster}-pgbouncer",
        pgbouncer_replicas="{cluster}-pgbouncer-replicas",
        user_secret="{cluster}-pguser-{user}",
        app_secret="{cluster}-app",
        default_user="app",
        labels=(("k8s.pgd.enterprisedb.io/group", "{cluster}"),),
        username_key=True,
    ),
}
# Every pod label Patroni may write the role in, by profile (pgrender.io/role where a profile names none).
ROLE_LABELS = frozenset({ROLE_LABEL, *(p.role_label for p in PROFILES.values() if p.role_label)})
