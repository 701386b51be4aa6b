"""Checks of spec.databaseInitSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pgrender.spec.init_sql import InitSQLSpec


def check_one_source(init: InitSQLSpec) -> InitSQLSpec:
    if init.sql is not None and (init.name or init.key):
        raise ValueError("give either sql, or name and key of a ConfigMap; not both")
    if init.sql is None and not (init.name and init.key):
        raise ValueError("expected name and key (a ConfigMap's key holding the SQL), or sql")
    return init
