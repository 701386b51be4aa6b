"""Spec size limits: what one cluster may ask for, so every object fits what Kubernetes stores
(1 MiB an object, 256 KiB of annotations) and a render stays quick.

Each is well above what a Patroni cluster uses (PGO's own defaults are one set of a few
instances); past them a spec is refused with its position instead of emitting objects the API
server refuses, or a 25 MB certificate Secret (a SAN for every pod), or minutes of rendering.
"""

from __future__ import annotations

MAX_INSTANCE_SETS = 16
MAX_INSTANCES = 64  # replicas summed over every set: each is a StatefulSet, a sync wave and SANs
MAX_USERS = 1000
MAX_DATABASES = 1000
MAX_DATABASES_PER_USER = 100
MAX_ROLE_MEMBERSHIPS = 100  # users[].inRoles: each is a guarded GRANT
MAX_GRANTS = 10_000  # (user, database) pairs: each is a guarded GRANT in the reconcile SQL
MAX_EXTRA_SANS = 100
MAX_HBA_RULES = 500
MAX_PARAMETERS = 500  # PostgreSQL 18 has about 400, and extensions add some
MAX_ANNOTATION_BYTES = 256 * 1024  # Kubernetes' limit on all annotations of one object
MAX_OBJECT_BYTES = 1024 * 1024  # what Kubernetes stores in one ConfigMap or Secret
MAX_INIT_SQL_BYTES = 256 * 1024  # spec.databaseInitSQL.sql shares the reconcile ConfigMap
