"""Spec of spec.databaseInitSQL: SQL run once, after the cluster is created (PGO's databaseInitSQL)."""

from __future__ import annotations

from pydantic import Field, model_validator

from pgrender.spec.base import DNSSubdomain, StrictModel
from pgrender.spec.limits import MAX_INIT_SQL_BYTES
from pgrender.spec.rules.init_sql import check_one_source
from pgrender.spec.tls import SecretKey


class InitSQLSpec(StrictModel):
    """Either a key of a ConfigMap the user applies (``name`` and ``key``), or the SQL inline (``sql``)."""

    name: DNSSubdomain | None = Field(default=None, description="The ConfigMap holding the SQL (applied by you).")
    key: SecretKey | None = Field(default=None, description="The ConfigMap's key holding the SQL.")
    sql: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_INIT_SQL_BYTES,
        description="The SQL itself, written into the reconcile ConfigMap.",
    )

    _one_source = model_validator(mode="after")(check_one_source)
