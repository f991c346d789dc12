"""Negative background yields (negative generator weights) in binning and significance."""

from __future__ import annotations

import hist
import numpy as np

from hnl_coffea.postprocessing.categories import bin_category, nominal
from hnl_coffea.postprocessing.normalise import ProcessHists


def _h(values, variances):
    h = (
        hist.Hist.new.StrCat(["SR"], name="region")
        .StrCat(["taumumu"], name="channel")
        .StrCat(["nominal"], name="systematic")
        .Reg(4, 0, 4, name="x")
        .Weight()
    )
    h.view()["value"][0, 0, 0] = values
    h.view()["variance"][0, 0, 0] = variances
    return h


def test_negative_process_is_clipped_not_summed():
    # WZ: 100 ± 5 per bin; DY: negative-weight events summing to -450 ± 3 in bin 3, more
    # than all WZ together; signal grows to the left, so every fine bin can be its own bin
    wz = _h([100.0, 100.0, 100.0, 100.0], [25.0] * 4)
    dy = _h([0.0, 0.0, 0.0, -450.0], [0.0, 0.0, 0.0, 9.0])
    sig = _h([4.0, 3.0, 2.0, 1.0], [0.01] * 4)
    ph = ProcessHists(backgrounds={"WZ": wz, "DY": dy}, signals={300.0: sig})
    cat = bin_category(ph, "x", "taumumu", 300.0, scheme="increasing", max_rel_unc=0.15)
    # summing the processes would make the total negative (400 - 450): not even one bin
    # passes; with DY clipped, every fine bin passes (sqrt(25 + 9)/100 < 0.15)
    assert list(cat.edges) == [0.0, 1.0, 2.0, 3.0, 4.0]
    # floored at 0, DY has no positive yield left: it is not a template at all
    assert "DY" not in cat.backgrounds
    assert nominal(cat.backgrounds["WZ"]).values().tolist() == [100.0] * 4
    assert any("DY: no positive yield" in w for w in cat.warnings)
    assert np.all(cat.background_yields == 100.0)
