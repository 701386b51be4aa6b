"""Key names inside the Secrets pgrender writes: decided here, read by whoever writes or mounts them."""

from __future__ import annotations

# kubernetes.io/tls Secrets, and the CA beside every certificate
TLS_CERT = "tls.crt"
TLS_KEY = "tls.key"
# A direct clone's Secret holds its source's CA: ca.crt is the cluster's own CA in every Secret
# pgrender writes (pgrender diff tells a new CA by it).
SOURCE_CA_CERT = "source-ca.crt"
CA_CERT = "ca.crt"
TLS_FILES = (TLS_CERT, TLS_KEY, CA_CERT)

# credentials
USERNAME = "username"  # Patroni's REST API
USER = "user"
PASSWORD = "password"
VERIFIER = "verifier"  # the SCRAM-SHA-256 verifier of PASSWORD, which the reconcile Job sets
HOST = "host"
PORT = "port"
DBNAME = "dbname"
URI = "uri"
JDBC_URI = "jdbc-uri"
FQDN_PREFIX = "fqdn-"  # CloudNativePG's fqdn-uri and fqdn-jdbc-uri: the URIs with the cluster domain
PGPASS = "pgpass"  # a .pgpass line: host:port:dbname:user:password
PGBOUNCER_PREFIX = "pgbouncer-"  # pgbouncer-host, pgbouncer-uri, ...: the same keys through pgBouncer
PGBOUNCER_AUTH_FILE = "users.txt"  # pgBouncer's auth_file: the auth user, and users with a [users] entry

# access Secrets (users[].accessSecret): libpq's environment variables, and the Service to port-forward to
PGHOST = "PGHOST"
PGPORT = "PGPORT"
PGUSER = "PGUSER"
PGPASSWORD = "PGPASSWORD"
PGDATABASE = "PGDATABASE"
PGSSLMODE = "PGSSLMODE"
PGSSLROOTCERT = "PGSSLROOTCERT"
USER_ACCESS = "USER_ACCESS"
EXPORTER_QUERIES = "queries.yaml"  # the monitoring ConfigMap's postgres_exporter queries (--extend.query-path)
