"""HNLProcessor with the shipped networks: every selected event lands inside the score axis,
including scores that saturate at exactly 1.0 in float32."""

from __future__ import annotations

import sys
from pathlib import Path

import hist
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from nanoaod_builder import open_events  # noqa: E402

from hnl_coffea.config import POG_FILES
from hnl_coffea.histograms import NOMINAL  # noqa: E402
from processors import HNLProcessor  # noqa: E402

NO_SF = {f"corrections.files.{k}": None for k in POG_FILES}


def test_saturated_scores_stay_in_range(tmp_path, cfg):
    from hnl_coffea.toymc import generate_sample

    c = cfg.with_overrides({**NO_SF, "models.mass_regression": None})
    path = tmp_path / "hnl.root"
    meta = generate_sample("HNL_M1000", 3000, path, seed=4, cfg=c)
    ev = open_events(path)
    ev.metadata.update({"dataset": "HNL_M1000", "filename": str(path), **meta})
    out = HNLProcessor(c, systematics=False).process(ev)["hists"]
    total = out["mt_total"][{"systematic": NOMINAL, "region": "SR"}].sum(flow=True).value
    assert total > 100
    h = out["score_parametric"]
    cut = {"systematic": NOMINAL, "region": "SR", "mhyp": hist.loc(1000)}
    assert h[cut].project("score")[hist.overflow].value == 0.0
    for m in (100, 500, 1000):
        s = h[{**cut, "mhyp": hist.loc(m)}].project("score")
        assert s.values().sum() == pytest.approx(total), m  # no event in the flow bins
    # the sample does exercise the saturation: the last bin holds score 1.0 events
    assert h[cut].project("score").values()[-1] > 0.05 * total
    assert np.all(out["score_transfer"][cut].project("score").values() >= 0)
