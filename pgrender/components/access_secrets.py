"""Secret <c>-pgaccess-<user> (users[].accessSecret): the managed offering's access Secret.

Its keys are libpq's environment variables, so ``envFrom`` (or ``export`` of each key, as the
offering's documentation shows) gives psql and any libpq application the connection, verify-full
included; USER_ACCESS is the primary Service, for ``kubectl port-forward svc/$USER_ACCESS 5432``.
"""

from __future__ import annotations

from pgrender.plan import ClusterPlan, UserPlan
from pgrender.plan import secret_keys as keys
from pgrender.plan.hosts import CLIENT_SSLMODE
from pgrender.pod import Manifest, in_namespaces, object_meta
from pgrender.secrets import SecretText, ca_certificate, secret_text, user_password


def access_secrets(plan: ClusterPlan) -> list[Manifest]:
    """Return an access Secret for every user that asks for one, and its copies in users[].secretNamespaces."""
    return [
        m
        for user in plan.users
        if user.access_secret
        for m in in_namespaces(_secret(plan, user), user.secret_namespaces)
    ]


def _secret(plan: ClusterPlan, user: UserPlan) -> Manifest:
    assert user.access_secret is not None and user.primary is not None  # only login roles get one
    data: dict[str, SecretText] = {
        keys.PGHOST: secret_text(user.primary.host),
        keys.PGPORT: secret_text(str(user.primary.port)),
        keys.PGUSER: secret_text(user.name),
        keys.PGPASSWORD: secret_text(user_password(user.name, user.password_rotation, owner=user.password_owner)),
        keys.PGSSLMODE: secret_text(CLIENT_SSLMODE),
        # The Secret's own ca.crt when it is mounted at secretMountPath, as the user Secret's is.
        keys.PGSSLROOTCERT: secret_text(plan.ca_file),
        keys.CA_CERT: ca_certificate(plan.tls),
        keys.USER_ACCESS: secret_text(plan.primary_service.name),
    }
    if user.default_database:
        data[keys.PGDATABASE] = secret_text(user.default_database)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": object_meta(plan, user.access_secret, user.labels),
        "type": "Opaque",
        "data": data,
    }
