"""Secret <c>-pguser-<user> per login role: user, password, verifier, dbname, host, port, URIs."""

from __future__ import annotations

from pgrender.plan import ClusterPlan, UserPlan
from pgrender.pod import Manifest, object_meta
from pgrender.secrets import Material, SecretInput, SecretText, secret_text, user_password, user_verifier


def user_secrets(plan: ClusterPlan) -> list[Manifest]:
    """Return a credentials Secret for every role that can log in."""
    return [_secret(plan, user) for user in plan.users if user.secret]


def _secret(plan: ClusterPlan, user: UserPlan) -> Manifest:
    assert user.secret is not None
    password = user_password(user.name, user.password_rotation)
    quoted = user_password(user.name, user.password_rotation, uri_quoted=True)
    dbname = user.databases[0] if user.databases else None
    host, port = plan.primary_host, plan.port
    data: dict[str, SecretText] = {
        "user": secret_text(user.name),
        "password": secret_text(password),
        "verifier": secret_text(user_verifier(user.name, user.password_rotation)),
        "host": secret_text(host),
        "port": secret_text(str(port)),
        "ca.crt": secret_text(SecretInput(Material.CA_CERT, "ca", plan.tls.rotation)),
        # verify-full: every name in host is in the server certificate; ca.crt is the root to trust.
        "uri": secret_text(f"postgresql://{user.name}:", quoted, f"@{host}:{port}/{dbname or ''}?sslmode=verify-full"),
        "jdbc-uri": secret_text(
            f"jdbc:postgresql://{host}:{port}/{dbname or ''}?password=",
            quoted,
            f"&sslmode=verify-full&user={user.name}",
        ),
    }
    if dbname:
        data["dbname"] = secret_text(dbname)
    pgb = plan.pgbouncer
    if pgb:
        jdbc_extra = "".join(f"&{p}" for p in pgb.jdbc_parameters)
        data |= {
            "pgbouncer-host": secret_text(pgb.host),
            "pgbouncer-port": secret_text(str(pgb.port)),
            "pgbouncer-uri": secret_text(
                f"postgresql://{user.name}:", quoted, f"@{pgb.host}:{pgb.port}/{dbname or ''}?sslmode=verify-full"
            ),
            "pgbouncer-jdbc-uri": secret_text(
                f"jdbc:postgresql://{pgb.host}:{pgb.port}/{dbname or ''}?password=",
                quoted,
                f"{jdbc_extra}&sslmode=verify-full&user={user.name}",
            ),
        }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": object_meta(plan, user.secret, user.labels),
        "type": "Opaque",
        "data": dict(data),
    }
