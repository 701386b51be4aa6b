"""Secret <c>-pguser-<user> per login role (named per naming profile): user, password, verifier,
dbname, host, port, URIs, and the keys the profile's applications read (username, pgpass, fqdn-*)."""

from __future__ import annotations

from pgrender.plan import ClusterPlan, UserPlan
from pgrender.plan import secret_keys as keys
from pgrender.plan.hosts import Connection
from pgrender.pod import Manifest, in_namespaces, object_meta
from pgrender.secrets import (
    Quoting,
    SecretInput,
    SecretText,
    ca_certificate,
    secret_text,
    user_password,
    user_verifier,
)


def user_secrets(plan: ClusterPlan) -> list[Manifest]:
    """Return a credentials Secret for every role that can log in, and its copies in the namespaces of
    the applications that use it (users[].secretNamespaces)."""
    return [m for user in plan.users if user.secret for m in in_namespaces(_secret(plan, user), user.secret_namespaces)]


def _secret(plan: ClusterPlan, user: UserPlan) -> Manifest:
    assert user.secret is not None and user.primary is not None  # resolve() connects every login role
    owner = user.password_owner
    password = user_password(user.name, user.password_rotation, owner=owner)
    quoted = user_password(user.name, user.password_rotation, uri_quoted=True, owner=owner)
    data: dict[str, SecretText] = {
        keys.USER: secret_text(user.name),
        keys.PASSWORD: secret_text(password),
        keys.VERIFIER: secret_text(user_verifier(user.name, user.password_rotation, owner)),
        # ca.crt is the root to trust for the verify-full URIs.
        keys.CA_CERT: ca_certificate(plan.tls),
        **_endpoint("", user.primary, quoted),
    }
    if user.default_database:
        data[keys.DBNAME] = secret_text(user.default_database)
    if user.pgbouncer:
        data |= _endpoint(keys.PGBOUNCER_PREFIX, user.pgbouncer, quoted)
    profile = plan.names.profile
    if profile.username_key:
        data[keys.USERNAME] = secret_text(user.name)
    if user.fqdn:  # CloudNativePG's <c>-app
        fqdn = _endpoint(keys.FQDN_PREFIX, user.fqdn, quoted)
        data |= {k: fqdn[k] for k in (f"{keys.FQDN_PREFIX}{keys.URI}", f"{keys.FQDN_PREFIX}{keys.JDBC_URI}")}
        primary = user.primary
        data[keys.PGPASS] = secret_text(
            f"{primary.host}:{primary.port}:{primary.dbname or '*'}:{user.name}:",
            user_password(user.name, user.password_rotation, quoting=Quoting.PGPASS, owner=owner),
            "\n",
        )
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": object_meta(plan, user.secret, user.labels),
        "type": profile.secret_type,
        "data": dict(data),
    }


def _endpoint(prefix: str, connection: Connection, password: SecretInput) -> dict[str, SecretText]:
    """host, port, uri and jdbc-uri of one endpoint, under ``prefix``."""
    return {
        f"{prefix}{keys.HOST}": secret_text(connection.host),
        f"{prefix}{keys.PORT}": secret_text(str(connection.port)),
        f"{prefix}{keys.URI}": secret_text(connection.uri[0], password, connection.uri[1]),
        f"{prefix}{keys.JDBC_URI}": secret_text(connection.jdbc_uri[0], password, connection.jdbc_uri[1]),
    }
