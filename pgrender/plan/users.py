"""Role and database plans; without spec.users, one user and one database named after the cluster."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgrender.errors import Problem
from pgrender.frozen import frozen
from pgrender.plan import defaults, labels
from pgrender.plan.hosts import Connection
from pgrender.plan.names import Names
from pgrender.plan.profiles import PROFILES
from pgrender.plan.roles import Report, RoleSetting, memberships, role_settings
from pgrender.spec import SourcedCluster, validated
from pgrender.spec.limits import MAX_DATABASES, MAX_GRANTS
from pgrender.spec.rules.users import InfrastructureRole, check_database_name, check_role_name

if TYPE_CHECKING:
    from pgrender.spec.users import RoleOptions, UserSpec


@frozen
class UserPlan:
    """A role; login roles get a credentials Secret."""

    name: str
    databases: tuple[str, ...]
    options: RoleOptions
    password_rotation: int
    secret: str | None
    labels: dict[str, str]
    access_secret: str | None = None  # <c>-pgaccess-<user>, with users[].accessSecret
    primary: Connection | None = None  # decided by resolve(), once the endpoints are known
    pgbouncer: Connection | None = None
    fqdn: Connection | None = None  # CloudNativePG's fqdn-uri and fqdn-jdbc-uri
    in_roles: tuple[str, ...] = ()  # GRANT each TO this role; memberships not listed are revoked
    settings: tuple[RoleSetting, ...] = ()  # ALTER ROLE ... SET; settings not listed are reset
    # Whose password it is, for deriving it: None, this cluster's; an infrastructure role's is shared.
    password_owner: tuple[str, str] | None = None
    # Other namespaces its Secret (and access Secret) is written into, for applications there.
    secret_namespaces: tuple[str, ...] = ()

    # The database its Secret names when it lists none (an infrastructure role: postgres, which
    # every role may connect to); None leaves it out, and libpq takes the user's name.
    connect_database: str | None = None

    @property
    def default_database(self) -> str | None:
        """The database its Secret names: the first one it lists (PGO's rule)."""
        return self.databases[0] if self.databases else self.connect_database


# How the passwords of infrastructure roles are derived: as if of one cluster of its own, whose
# namespace no Kubernetes namespace can be (a '_'), so no cluster's own values are the same.
INFRASTRUCTURE_OWNER = ("_pgrender", "infrastructure")


def _infrastructure_report(sourced: SourcedCluster, role: InfrastructureRole, problems: list[Problem]) -> Report:
    meta = sourced.cluster.metadata
    context = f" (cluster {meta.namespace}/{meta.name}, PostgreSQL {sourced.cluster.spec.postgres_version})"

    def report(rest: tuple[str | int, ...], message: str) -> None:
        problems.append(role.problem(rest, message + context))

    return report


def _infrastructure_user(
    sourced: SourcedCluster, names: Names, role: InfrastructureRole, problems: list[Problem]
) -> UserPlan:
    """An infrastructure role in this cluster: no database of its own, its password shared by every cluster."""
    r = role.spec
    settings = role_settings(
        sourced.cluster.spec.postgres_version, r.parameters, _infrastructure_report(sourced, role, problems)
    )
    return UserPlan(
        r.name,
        (),
        r.options,
        r.password_rotation,
        names.pguser_secret(r.name) if r.options.login else None,
        {**labels.common(sourced.cluster.metadata.name, labels.COMPONENT_DATABASE), labels.PGUSER_LABEL: r.name},
        in_roles=tuple(r.in_roles),
        settings=settings,
        password_owner=INFRASTRUCTURE_OWNER,
        connect_database=defaults.MAINTENANCE_DATABASE,
    )


@frozen
class InitSQLPlan:
    """spec.databaseInitSQL: the user's ConfigMap key, or the SQL to ship in the reconcile ConfigMap."""

    config_map: str | None
    key: str | None
    inline: str | None


def resolve_init_sql(sourced: SourcedCluster) -> InitSQLPlan | None:
    init = sourced.cluster.spec.database_init_sql
    return InitSQLPlan(init.name, init.key, init.sql) if init else None


@frozen
class DatabasePlan:
    name: str
    owner: str
    grantees: tuple[str, ...]


# Said before a problem with the default user, which has no field of its own in the spec.
_DEFAULT_USER = "without spec.users, the cluster's user and database are named after it: "


def _default_user(sourced: SourcedCluster, problems: list[Problem]) -> UserSpec | None:
    """PGO's default: one user and one database named after the cluster (CloudNativePG and PGD: "app");
    None if the name cannot be one.

    A cluster name is a DNS label, which need not be a valid role or database name (64 characters,
    template1): the spec validators refuse those, and their error belongs at metadata.name.
    """
    cluster = sourced.cluster.metadata.name
    name = PROFILES[sourced.cluster.spec.naming].default_user or cluster
    try:
        # The checks of the fields the user would have, in their order; the first error is enough:
        # a name too long for a role is too long for a database too.
        check_role_name(name)
        check_database_name(name)
    except ValueError as exc:
        problems.append(sourced.problem(("metadata", "name"), _DEFAULT_USER + str(exc)))
        return None
    made: UserSpec = validated("UserSpec", {"name": name, "databases": [name]})
    return made


def standby_source(sourced: SourcedCluster) -> tuple[str, str] | None:
    """(namespace, cluster) of a standby's source, streamed or restored from: the roles its data holds
    are the source's, with their passwords, so its login roles' passwords are derived for the source
    (through promotion too, while spec.standby is set); None for any other cluster."""
    standby = sourced.cluster.spec.standby
    source = (standby.from_cluster or standby.from_backup) if standby else None
    if source is None:
        return None
    return (source.namespace or sourced.cluster.metadata.namespace, source.cluster)


def _secret_namespace_problems(sourced: SourcedCluster, names: Names, user: UserSpec) -> list[str]:
    """Why ``user``'s secretNamespaces cannot be written as given."""
    given = user.secret_namespaces
    if not given:
        return []
    out = []
    if not user.options.login:
        out.append("a role that cannot log in has no Secret to write elsewhere; set options.login")
    if sourced.cluster.metadata.namespace in given:
        out.append(f"{sourced.cluster.metadata.namespace} is the cluster's own namespace, which has the Secret")
    if len(set(given)) != len(given):
        out.append("a namespace is listed twice")
    if names.profile.cnpg_keys and not sourced.cluster.spec.connectivity.dns:
        out.append(
            "CloudNativePG's Secret names its host without the namespace (<cluster>-rw), which resolves in the "
            "cluster's namespace only; use another naming profile, or spec.connectivity.dns"
        )
    return out


def resolve_users(
    sourced: SourcedCluster,
    names: Names,
    problems: list[Problem],
    infrastructure: tuple[InfrastructureRole, ...] = (),
) -> tuple[tuple[UserPlan, ...], tuple[DatabasePlan, ...]]:
    spec = sourced.cluster.spec
    cluster = sourced.cluster.metadata.name
    entries: list[tuple[tuple[str | int, ...], str, UserSpec]] = [
        (("spec", "users", i), "", u) for i, u in enumerate(spec.users)
    ]
    if not spec.users:
        default = _default_user(sourced, problems)
        entries = [(("metadata",), _DEFAULT_USER, default)] if default else []
    seen: set[str] = set()
    users: list[UserPlan] = []
    first_secret = True  # some profiles name the first login role's Secret apart (Names.pguser_secret)
    reporters: list[Report] = []  # where each user's problems go: its place in the spec or in pgrender.yaml
    shared = {role.spec.name: role for role in infrastructure}
    for where, why, u in entries:
        path = (*where, "name")
        if u.name in seen:
            problems.append(sourced.problem(path, f"duplicate user {u.name!r}"))
        if u.name == defaults.SUPERUSER or u.name.startswith(defaults.RESERVED_ROLE_PREFIX):
            problems.append(
                sourced.problem(
                    path, f"{why}{u.name!r} is reserved: pgrender manages the superuser and replication roles"
                )
            )
            continue
        if u.name in shared:
            problems.append(
                sourced.problem(
                    path,
                    f"{why}{u.name!r} is an infrastructure role of {shared[u.name].where}, made in every cluster; "
                    "rename one of them",
                )
            )
            continue
        if len(set(u.databases)) != len(u.databases):
            problems.append(sourced.problem((*where, "databases"), "a database is listed twice"))
        seen.add(u.name)
        secret = names.pguser_secret(u.name, first=first_secret) if u.options.login else None
        first_secret = first_secret and secret is None
        if u.access_secret and not u.options.login:
            problems.append(
                sourced.problem(
                    (*where, "accessSecret"), "a role that cannot log in has no credentials to give; set options.login"
                )
            )
        access = names.pgaccess_secret(u.name) if u.access_secret and u.options.login else None
        for problem in _secret_namespace_problems(sourced, names, u):
            problems.append(sourced.problem((*where, "secretNamespaces"), problem))
        user_labels = {
            **labels.common(cluster, labels.COMPONENT_DATABASE),
            labels.PGUSER_LABEL: u.name,
        }

        def report(rest: tuple[str | int, ...], message: str, at: tuple[str | int, ...] = where) -> None:
            problems.append(sourced.problem((*at, *rest), message))

        settings = role_settings(spec.postgres_version, u.parameters, report)
        users.append(
            UserPlan(
                u.name,
                tuple(u.databases),
                u.options,
                u.password_rotation,
                secret,
                user_labels,
                access,
                in_roles=tuple(u.in_roles),
                settings=settings,
                password_owner=standby_source(sourced),
                secret_namespaces=tuple(u.secret_namespaces) if u.options.login else (),
            )
        )
        reporters.append(report)
    for role in infrastructure:
        users.append(_infrastructure_user(sourced, names, role, problems))
        reporters.append(_infrastructure_report(sourced, role, problems))

    def membership_problem(role: int, index: int | None, message: str) -> None:
        reporters[role](("inRoles", *(() if index is None else (index,))), message)

    memberships(spec.postgres_version, [(u.name, u.in_roles) for u in users], membership_problem)

    owners: dict[str, str] = {}
    for i, d in enumerate(spec.databases):
        if d.name in owners:
            problems.append(sourced.problem(("spec", "databases", i, "name"), f"duplicate database {d.name!r}"))
        if d.owner not in seen:
            problems.append(
                sourced.problem(
                    ("spec", "databases", i, "owner"),
                    f"owner {d.owner!r} is not one of spec.users ({', '.join(sorted(seen)) or 'none'})",
                )
            )
        owners[d.name] = d.owner
    for user in users:
        for db in user.databases:
            owners.setdefault(db, user.name)
    grants = sum(len(user.databases) for user in users)
    for count, limit, what in ((len(owners), MAX_DATABASES, "databases"), (grants, MAX_GRANTS, "grants")):
        if count > limit:
            problems.append(
                sourced.problem(("spec", "users"), f"{count} {what} in all; pgrender manages at most {limit}")
            )
            return tuple(users), ()
    # Each database's grantees in the users' order, in one pass over the users (not a pass per database).
    grantees: dict[str, list[str]] = {db: [] for db in owners}
    for user in users:
        for db in dict.fromkeys(user.databases):
            grantees[db].append(user.name)
    databases = tuple(DatabasePlan(db, owner, tuple(grantees[db])) for db, owner in owners.items())
    return tuple(users), databases
