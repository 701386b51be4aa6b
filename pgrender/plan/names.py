"""Every object, Secret and volume name a cluster uses (its naming profile, plan/profiles.py); the rule
Kubernetes holds each kind to."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

from pgrender.frozen import field, frozen, replace
from pgrender.plan import hosts
from pgrender.plan.profiles import PROFILES, NamingProfile
from pgrender.spec.rules.connectivity import Naming

# reconcile.py names its Job after the first 10 hex digits of the Job's content digest.
CONTENT_HASH_LENGTH = 10

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"


@frozen
class NameRule:
    """What Kubernetes accepts as one kind of name: a form (its syntax) and a length limit."""

    form: str  # "a DNS-1123 subdomain", for messages
    expected: str  # the characters the form allows, for messages
    pattern: re.Pattern[str]
    max_length: int
    why: str = ""  # why max_length is below the form's own limit, when it is

    def problem(self, kind: str, name: str, what: str | None = None) -> str | None:
        """Why ``name`` is refused for a ``kind``, or None; ``what`` starts the message ("instance name")."""
        what = what or f"{kind} name"
        article = "an" if kind[:1] in "AEIOU" else "a"
        if not self.pattern.fullmatch(name):
            return f"{what} {name!r} is not valid for {article} {kind}: expected {self.form}, {self.expected}"
        if len(name) > self.max_length:
            why = f" ({self.why})" if self.why else ""
            limit = f"Kubernetes allows {self.max_length} for {article} {kind}{why}"
            return f"{what} {name!r} is {len(name)} characters; {limit}"
        return None


# The API server's own checks (apimachinery validation IsDNS1123Subdomain, IsDNS1123Label, IsDNS1035Label).
DNS1123_SUBDOMAIN = NameRule(
    "a DNS-1123 subdomain",
    "lower-case letters, digits, '-' and '.', each '.'-separated part starting and ending with a letter or digit",
    re.compile(rf"{_LABEL}(\.{_LABEL})*"),
    253,
)
DNS1123_LABEL = NameRule(
    "a DNS-1123 label",
    "lower-case letters, digits and '-', starting and ending with a letter or digit",
    re.compile(_LABEL),
    63,
)
DNS1035_LABEL = NameRule(
    "a DNS-1035 label",
    "lower-case letters, digits and '-', starting with a letter and ending with a letter or digit",
    re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?"),
    63,
)
LABEL_VALUE = NameRule(
    "a label value",
    "letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
    re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"),
    63,
)

# Kind -> rule, for every kind pgrender emits. Kinds not listed (custom resources such as SealedSecret)
# are held to DNS-1123 subdomain, as the API server does by default.
NAME_RULES: dict[str, NameRule] = {
    "Namespace": DNS1123_LABEL,
    "ServiceAccount": DNS1123_SUBDOMAIN,
    "Role": DNS1123_SUBDOMAIN,
    "RoleBinding": DNS1123_SUBDOMAIN,
    "ConfigMap": DNS1123_SUBDOMAIN,
    "Secret": DNS1123_SUBDOMAIN,
    "PersistentVolumeClaim": DNS1123_SUBDOMAIN,
    "PodDisruptionBudget": DNS1123_SUBDOMAIN,
    "Deployment": DNS1123_SUBDOMAIN,
    # Services get DNS records <name>.<namespace>.svc, so the stricter DNS-1035 label.
    "Service": DNS1035_LABEL,
    # The API server puts the Job's name into its pods' job-name label, whose values stop at 63.
    "Job": replace(DNS1123_SUBDOMAIN, max_length=63, why="its pods' job-name label carries it"),
    # The controller names each Job <cronjob>-<minutes since the epoch, 8+ digits>, which must fit 63.
    "CronJob": replace(DNS1123_SUBDOMAIN, max_length=52, why="its Jobs' names add 11"),
    # Its pod <name>-0 is the instance's hostname (a DNS-1123 label), and the pods carry
    # controller-revision-hash=<name>-<10 characters>, a label value of at most 63.
    "StatefulSet": replace(DNS1123_LABEL, max_length=52, why="its pods' revision label adds 11"),
    # cert-manager's own kinds: subdomains, as for every custom resource (its CertificateRequests
    # take the Certificate's name and a suffix, shortened with a hash when too long).
    "NetworkPolicy": DNS1123_SUBDOMAIN,
    "Certificate": DNS1123_SUBDOMAIN,
    "Issuer": DNS1123_SUBDOMAIN,
    # The Prometheus Operator's kinds (spec.monitoring): subdomains, as every custom resource.
    "PodMonitor": DNS1123_SUBDOMAIN,
    "PrometheusRule": DNS1123_SUBDOMAIN,
}


def name_rule(kind: str) -> NameRule:
    """The rule Kubernetes holds names of ``kind`` to."""
    return NAME_RULES.get(kind, DNS1123_SUBDOMAIN)


def kubernetes_name_problem(kind: str, name: str) -> str | None:
    """Why the API server would refuse an object of ``kind`` named ``name``, or None if it accepts it.

    resolve() checks every name it decides with these rules; emit may call this on every object as
    a safety net, where a problem means a bug in pgrender, not in the spec.
    """
    return name_rule(kind).problem(kind, name)


@frozen
class Names:
    """Object names of one cluster; builders read these and never format names themselves."""

    cluster: str
    profile: NamingProfile = field(default=PROFILES[Naming.PGO])
    host_suffix: str = ""  # spec.connectivity.dns.hostSuffix: ends every client Service's name

    def _service(self, template: str) -> str:
        return template.format(cluster=self.cluster) + self.host_suffix

    @property
    def instance_rbac(self) -> str:
        """ServiceAccount, Role and RoleBinding Patroni runs with."""
        return f"{self.cluster}-instance"

    @property
    def config_map(self) -> str:
        """ConfigMap holding patroni.yaml."""
        return f"{self.cluster}-config"

    @property
    def patroni_secret(self) -> str:
        """Secret with the credentials of Patroni's REST API."""
        return f"{self.cluster}-patroni"

    @property
    def patroni_scope(self) -> str:
        """Patroni's scope; also the prefix of the ConfigMaps Patroni writes at runtime."""
        return f"{self.cluster}-ha"

    @property
    def patroni_runtime_config_maps(self) -> tuple[str, ...]:
        """ConfigMaps Patroni writes at runtime (its Kubernetes DCS, use_endpoints false): pgrender
        never names an object so, in any cluster of the namespace."""
        return tuple(f"{self.patroni_scope}-{part}" for part in ("leader", "config", "failover", "sync"))

    @property
    def primary_service(self) -> str:
        return self._service(self.profile.primary_service)

    @property
    def replicas_service(self) -> str:
        return self._service(self.profile.replicas_service)

    @property
    def any_service(self) -> str | None:
        """A Service over every member, where the profile has one (CloudNativePG -r, PGD group)."""
        return self._service(self.profile.any_service) if self.profile.any_service else None

    def member_service(self, instance: str) -> str | None:
        """A Service of one member, where the profile has them (EDB PGD's node services)."""
        return f"{instance}{self.host_suffix}" if self.profile.member_services else None

    @property
    def ca_secret(self) -> str | None:
        """A Secret with only the cluster CA's certificate, where the profile's apps expect one."""
        return self.profile.ca_secret.format(cluster=self.cluster) if self.profile.ca_secret else None

    @property
    def pods_service(self) -> str:
        """Headless Service giving each pod a stable DNS name for Patroni."""
        return f"{self.cluster}-pods"

    @property
    def pgbouncer(self) -> str:
        """Deployment, ConfigMap, Secret and PodDisruptionBudget of pgBouncer."""
        return self.profile.pgbouncer.format(cluster=self.cluster)

    @property
    def pgbouncer_service(self) -> str:
        return self._service(self.profile.pgbouncer)

    @property
    def pgbouncer_cert(self) -> str:
        """pgBouncer's certificate when it is issued in the cluster (cert-manager), not by pgrender."""
        return f"{self.pgbouncer}-cert"

    @property
    def pgbouncer_replicas(self) -> str:
        """Deployment, ConfigMap, Secret and PodDisruptionBudget of the replicas' pgBouncer."""
        return self.profile.pgbouncer_replicas.format(cluster=self.cluster)

    @property
    def pgbouncer_replicas_service(self) -> str:
        return self._service(self.profile.pgbouncer_replicas)

    @property
    def pgbouncer_replicas_cert(self) -> str:
        """The replicas' pgBouncer's certificate when it is issued in the cluster (cert-manager)."""
        return f"{self.pgbouncer_replicas}-cert"

    @property
    def pgadmin(self) -> str:
        """StatefulSet, ConfigMap, Secret and claim of pgAdmin (spec.userInterface.pgAdmin), as PGO's."""
        return f"{self.cluster}-pgadmin"

    @property
    def pgadmin_service(self) -> str:
        return self._service("{cluster}-pgadmin")

    @property
    def ca_issuer(self) -> str:
        """The cert-manager CA Issuer pgrender writes from spec.tls.certManager.caSecretName."""
        return f"{self.cluster}-ca-issuer"

    @property
    def cluster_cert(self) -> str:
        return f"{self.cluster}-cluster-cert"

    @property
    def replication_cert(self) -> str:
        return f"{self.cluster}-replication-cert"

    @property
    def superuser_cert(self) -> str:
        return f"{self.cluster}-superuser-cert"

    @property
    def reconcile_config_map(self) -> str:
        return f"{self.cluster}-reconcile"

    def reconcile_sql_config_map(self, part: int) -> str:
        """A further part of the reconcile SQL, when one ConfigMap cannot hold it all."""
        return f"{self.cluster}-reconcile-sql-{part}"

    def reconcile_job(self, content_hash: str) -> str:
        """The Job carries a content hash: a changed Job is a new Job, as Jobs are immutable."""
        return f"{self.cluster}-reconcile-{content_hash[:CONTENT_HASH_LENGTH]}"

    def is_reconcile_job(self, name: str) -> bool:
        """Whether ``name`` is one of reconcile_job's names (any content hash)."""
        prefix = self.reconcile_job("")
        return name.startswith(prefix) and len(name) == len(prefix) + CONTENT_HASH_LENGTH

    @property
    def password_sync(self) -> str:
        """CronJob that sets passwords changed in a store since (secrets provider external); its
        name is shorter than the reconcile Job's, which bounds the cluster name."""
        return f"{self.cluster}-passwords"

    @property
    def dashboard(self) -> str:
        """spec.monitoring.grafanaDashboard: the ConfigMap with the cluster's Grafana dashboard."""
        return f"{self.cluster}-dashboard"

    @property
    def monitoring(self) -> str:
        """spec.monitoring: the exporter's Secret (its role's password) and ConfigMap (its queries),
        the PodMonitor and the PrometheusRule (PGO's Secret is <c>-monitoring too)."""
        return f"{self.cluster}-monitoring"

    @property
    def reconcile_rbac(self) -> str:
        """ServiceAccount, Role and RoleBinding of the reconcile Job, which replaces member pods."""
        return f"{self.cluster}-reconcile"

    @property
    def clone_source_secret(self) -> str:
        """A direct clone's way into its source: the source's CA and a replication certificate it accepts."""
        return f"{self.cluster}-clone-source"

    @property
    def pgbackrest_config(self) -> str:
        """ConfigMap of pgBackRest's configuration for database pods and the repository host."""
        return f"{self.cluster}-pgbackrest-config"

    @property
    def pgbackrest_jobs(self) -> str:
        """ConfigMap of what only backup Jobs read: their configuration and scripts."""
        return f"{self.cluster}-pgbackrest-jobs"

    @property
    def pgbackrest_secret(self) -> str:
        """Secret of the repositories' passphrases."""
        return f"{self.cluster}-pgbackrest"

    @property
    def pgbackrest_cert(self) -> str:
        """pgBackRest's client certificate (and the repository host's server certificate)."""
        return f"{self.cluster}-pgbackrest-cert"

    @property
    def repo_host(self) -> str:
        """StatefulSet and headless Service of the repository host (volume repositories)."""
        return f"{self.cluster}-repo-host"

    def repo_volume(self, repo: str) -> str:
        return f"{self.cluster}-{repo}"

    def backup_cron_job(self, repo: str, backup_type: str) -> str:
        """CronJob of one backup type of one repository (PGO: <c>-repo1-full)."""
        return f"{self.cluster}-{repo}-{backup_type}"

    def manual_backup_job(self, repo: str, run: int) -> str:
        return f"{self.cluster}-{repo}-manual-{run}"

    def initial_backup_job(self, repo: str, content_hash: str) -> str:
        """stanza-create and a first full backup, again whenever the pgBackRest configuration changes."""
        return f"{self.cluster}-{repo}-init-{content_hash[:CONTENT_HASH_LENGTH]}"

    @property
    def logical_backup(self) -> str:
        """CronJob of pg_dumpall."""
        return f"{self.cluster}-logical-backup"

    def network_policy(self, component: str) -> str:
        """NetworkPolicy around one component's pods (database, pgbouncer, reconcile, backup, ...)."""
        return f"{self.cluster}-{component}"

    def pguser_secret(self, user: str, first: bool = False) -> str:
        """A login role's Secret; ``first``: the first login role, which some profiles name <c>-app."""
        return self.profile.user_secret_name(self.cluster, user, first)

    def pgaccess_secret(self, user: str) -> str:
        """The libpq environment of a user (users[].accessSecret), for envFrom or a shell."""
        return f"{self.cluster}-pgaccess-{user}"

    def instance_set(self, set_name: str) -> str:
        """PodDisruptionBudget of an instance set."""
        return f"{self.cluster}-{set_name}"

    def instance(self, set_name: str, ordinal: int) -> str:
        """StatefulSet of one instance."""
        return f"{self.cluster}-{set_name}-{ordinal}"

    @staticmethod
    def pod(instance: str) -> str:
        """The single pod of an instance's StatefulSet."""
        return f"{instance}-0"

    @staticmethod
    def data_volume(instance: str) -> str:
        return f"{instance}-pgdata"

    @staticmethod
    def wal_volume(instance: str) -> str:
        return f"{instance}-pgwal"


def source_host(cluster: str, namespace: str, naming: Naming, host: str | None) -> str:
    """Where a standby or a copy reaches its source's primary (fromCluster): ``host`` when given (outside
    this Kubernetes cluster), else the source's primary Service, the source taken to use this cluster's
    naming profile (and no host suffix)."""
    return host or hosts.service_host(Names(cluster, PROFILES[naming]).primary_service, namespace)


def cluster_directories(clusters: Callable[[], Iterable[tuple[str, str]]]) -> Iterator[str]:
    """The output sub-directory of each (namespace, name) of a several-cluster render (cluster_directory),
    ``clusters()`` read twice: first each name is counted, held as a digest (spill.DigestMap, in a
    file past a few dozen clusters), then each directory given."""
    from pgrender.spill import DigestMap

    named = DigestMap()  # each name: the first cluster's number; NUL and the name: a second has it
    try:
        for number, (_, name) in enumerate(clusters()):
            if named.setdefault(name, number) != number:
                named.setdefault(f"\0{name}", number)
        for namespace, name in clusters():
            yield cluster_directory(namespace, name, named.get(f"\0{name}") is not None)
    finally:
        named.close()


def cluster_directory(namespace: str, name: str, shared: bool) -> str:
    """The output sub-directory of one cluster, ``shared``: whether another of the render has its name."""
    return f"{namespace}-{name}" if shared else name
