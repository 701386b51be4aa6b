"""The benchmark harness counts what it compares against: a render's crypto calls and their floor."""

from __future__ import annotations

from benchmarks import fleet_bench
from benchmarks.spec_gen import spec


def test_a_render_counts_its_crypto_and_the_floor_repeats_it() -> None:
    result = fleet_bench.rendered([spec(0), spec(1)])
    assert result["clusters"] == 2 and result["cpu"] > 0
    # hippo-like clusters: a CA and leaves each, their keys, and the users' SCRAM verifiers
    assert result["signatures"] >= 2 * 4 and result["keys"] >= result["signatures"] and result["pbkdf2"] >= 2
    assert fleet_bench.floor(result) > 0


def test_a_change_to_every_cluster_is_rendered_into_the_directory_before_it() -> None:
    """Both renders of the changed-clusters row succeed: a larger volume is a change the guard lets through."""
    second = fleet_bench.changed(2)
    assert second["cpu"] > 0 and second["peak_mb"] > 10
