"""The planted-assembly benchmark, run in miniature: every method scored, the table printed."""

from __future__ import annotations

import io
import math

import pytest


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("assemblies")


def test_every_case_builds_at_small_scale(bench):
    for name in bench.CASES:
        rec = bench.make_case(name, scale=0.02)
        assert rec.data.dims == ("neurons", "time", "presentations")
        assert rec.assemblies.shape[1] == rec.data.sizes["neurons"]


def test_miniature_run_prints_and_scores_every_method(bench):
    out = io.StringIO()
    rows = bench.run(["lopes-dos-santos-toy", "independent"], ["sae", "ica", "nmf"], scale=0.2,
                     sae_settings=dict(n_latents=16, epochs=2), out=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("| case | method | MMCS")
    assert len(lines) == 2 + len(rows) == 8
    by = {(r["case"], r["method"]): r for r in rows}
    toy_ica = by["lopes-dos-santos-toy", "ica"]
    assert toy_ica["found_0.9"] == 1.0 and toy_ica["n_reported"] == 2 and toy_ica["planted"] == 2
    assert by["independent", "ica"]["n_reported"] == 0
    assert math.isnan(by["independent", "ica"]["found_0.9"])  # nothing planted, nothing to find
    assert 0 < by["lopes-dos-santos-toy", "sae"]["n_reported"] <= 16
