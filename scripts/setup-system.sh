#!/bin/sh
# Install the Debian packages pgrender's tests run for real (PostgreSQL, pgBouncer, Patroni, etcd,
# pgBackRest, the AWS CLI of the logical backups, git, strace, which kills and fails renders in
# tests/test_write_faults.py, the runtimes of the real clients: a JRE with pgJDBC, Node.js and
# npm, and monitoring's postgres_exporter and promtool), plus python3-venv when the interpreter
# cannot make a virtualenv; with --runtime also PostgreSQL 17 and pgBackRest 2.5x beside Debian's
# PostgreSQL, the target of the major version upgrade tests (scripts/setup-pg-upgrade-target.sh).
# Does nothing when all are there.
# Usage: scripts/setup-system.sh [--runtime]   (without --runtime: only what a virtualenv needs)
set -eu

packages=""
if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
    packages="python3-venv"
fi
if [ "${1:-}" = "--runtime" ]; then
    command -v patroni >/dev/null 2>&1 || packages="$packages patroni"
    command -v etcd >/dev/null 2>&1 || packages="$packages etcd-server"
    command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || packages="$packages pgbouncer"
    command -v pgbackrest >/dev/null 2>&1 || packages="$packages pgbackrest"
    # The logical backup's script runs with the image's PATH (tests/runtime/harness.IMAGE_PATH): an
    # aws found only elsewhere (a pyenv shim, ~/.local/bin) is not found there.
    PATH=/usr/local/bin:/usr/bin:/bin command -v aws >/dev/null 2>&1 || packages="$packages awscli"
    # Debian's PostgreSQL in a directory of its own: not only a major linked in by
    # setup-pg-upgrade-target.sh (tests/runtime/harness.default_pg_major).
    packaged_postgres=""
    for server in /usr/lib/postgresql/*/bin/postgres; do
        [ -x "$server" ] && [ ! -L "${server%/bin/postgres}" ] && packaged_postgres=yes
    done
    [ -n "$packaged_postgres" ] || packages="$packages postgresql"
    command -v git >/dev/null 2>&1 || packages="$packages git"
    command -v strace >/dev/null 2>&1 || packages="$packages strace"
    # tests/runtime/test_clients.py: pgJDBC on a JRE (`java File.java` compiles in memory with the
    # jdk.compiler module, which Debian's JRE ships: no JDK needed), and Node.js with npm for
    # node-postgres (`make clients`).
    command -v java >/dev/null 2>&1 || packages="$packages default-jre-headless"
    [ -f /usr/share/java/postgresql.jar ] || packages="$packages libpostgresql-jdbc-java"
    command -v node >/dev/null 2>&1 || packages="$packages nodejs"
    command -v npm >/dev/null 2>&1 || packages="$packages npm"
    # tests/runtime/test_pgadmin.py: pgAdmin's virtualenv (`make clients`) is made by the system's Python,
    # which the postgres user the harness runs containers as can start (the Makefile's PGADMIN_PYTHON).
    /usr/bin/python3 -c "import venv, ensurepip" >/dev/null 2>&1 || packages="$packages python3-venv"
    # spec.monitoring: tests/test_alerts.py checks and tests the rendered alerts with promtool, and
    # tests/runtime/test_monitoring.py runs Debian's postgres_exporter as the exporter sidecar.
    command -v promtool >/dev/null 2>&1 || packages="$packages prometheus"
    command -v prometheus-postgres-exporter >/dev/null 2>&1 || [ -x /usr/bin/prometheus-postgres-exporter ] ||
        packages="$packages prometheus-postgres-exporter"
fi
upgrade_target() {
    # After Debian's packages: PostgreSQL 17 from trixie's, beside Debian's (its own script tells why).
    if [ "${1:-}" = "--runtime" ]; then
        "$(dirname "$0")/setup-pg-upgrade-target.sh"
    fi
}
if [ -z "$packages" ]; then
    upgrade_target "$@"
    exit 0
fi

if [ "$(id -u)" = "0" ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "setup-system: need root (or sudo) to install:$packages" >&2
    exit 1
fi
echo "setup-system: installing$packages" >&2
$sudo apt-get update
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends $packages
# Debian starts cluster-wide postgresql, etcd, prometheus and exporter services; the tests start
# their own on free ports.
if command -v systemctl >/dev/null 2>&1; then
    $sudo systemctl disable --now etcd postgresql prometheus prometheus-postgres-exporter >/dev/null 2>&1 || true
fi
upgrade_target "$@"
