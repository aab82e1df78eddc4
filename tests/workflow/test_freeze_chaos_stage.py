"""The freeze/chaos stage of config/test.yaml end to end: F12, F13 and the C8 rows."""

from __future__ import annotations

import pytest

DROPOUT_RATE = 0.2  # the schema default of freeze_chaos.dropout_rate (only dropout variants use it)


@pytest.mark.slow
def test_f12_f13_targets_build(test_config_run):
    workflow_copy, r = test_config_run  # the shared end-to-end run of config/test.yaml
    assert r.returncode == 0, r.stderr[-3000:]
    for fig in ("F12", "F13"):
        for ext in ("pdf", "png"):
            assert (workflow_copy / f"results/test/figures/{fig}.{ext}").stat().st_size > 1000
    import pandas as pd

    claims = pd.read_csv(workflow_copy / "results/test/metrics/claims_c8.csv")
    assert set(claims["claim"]) == {"C8"} and len(claims) > 5
    assert claims["measured"].notna().all()
    checker = claims[claims["arch"].str.startswith("deconv_")]
    assert len(checker) == 4 and checker["quantity"].str.contains("parity contrast").sum() == 2
    table = pd.read_csv(workflow_copy / "results/test/freeze_chaos/checkerboard.csv")
    assert {"parity_contrast", "far_corr", "parity_ratio"} <= set(table.columns)
