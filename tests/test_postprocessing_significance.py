"""Significance figures of merit and normalisation against hand-computed numbers."""

from __future__ import annotations

import math

import hist
import pytest

from hnl_coffea.postprocessing.normalise import dataset_scale, group_processes
from hnl_coffea.postprocessing.significance import (
    asimov,
    average_channels,
    combine_channels,
    s_over_sqrt_b,
)


def test_s_over_sqrt_b_hand_computed():
    # bins: 3/sqrt(9) = 1, 4/sqrt(4) = 2, b = 0 ignored → sqrt(1 + 4)
    assert s_over_sqrt_b([3.0, 4.0, 5.0], [9.0, 4.0, 0.0]) == pytest.approx(math.sqrt(5.0))
    assert s_over_sqrt_b(10.0, 25.0) == pytest.approx(2.0)


def test_asimov_hand_computed():
    # s = 5, b = 10: Z² = 2 (15 ln 1.5 - 5) = 2 (6.0819766 - 5) = 2.1639532
    z1 = math.sqrt(2 * (15 * math.log(1.5) - 5))
    assert z1 == pytest.approx(math.sqrt(2.1639532), rel=1e-6)
    # s = 2, b = 1: Z² = 2 (3 ln 3 - 2)
    z2 = math.sqrt(2 * (3 * math.log(3.0) - 2))
    assert asimov([5.0, 2.0], [10.0, 1.0]) == pytest.approx(math.hypot(z1, z2))
    assert asimov([5.0], [10.0]) < s_over_sqrt_b([5.0], [10.0])


@pytest.mark.parametrize("b", [1e3, 1e5, 1e7])
def test_asimov_tends_to_s_over_sqrt_b(b):
    s = [1e-3 * b**0.5, 2e-3 * b**0.5]
    bkg = [b, 2 * b]
    assert asimov(s, bkg) == pytest.approx(s_over_sqrt_b(s, bkg), rel=2e-3)


def test_channel_average_and_combination():
    assert combine_channels([3.0, 4.0]) == pytest.approx(5.0)
    assert average_channels([1.0, 2.0, 3.0, 4.0, 5.0]) == pytest.approx(3.0)
    assert average_channels([]) == 0.0


def test_dataset_scale_by_hand(cfg):
    meta = {"xsec": 4.5, "era": "2017", "is_data": False}
    # 4.5 pb × 1000 pb⁻¹/fb⁻¹ × 41.48 fb⁻¹ (the dataset's era, 2017) / 1500 = 124.44
    assert dataset_scale("WZ", meta, 1500.0, cfg) == pytest.approx(124.44)
    # era from the config (2018: 59.83 fb⁻¹) and Σw from the metadata
    assert dataset_scale("X", {"xsec": 1.0, "sumw": 598.3}, None, cfg) == pytest.approx(100.0)
    # the metadata Σw (e.g. of the unskimmed sample) wins over the Σw the run accumulated
    assert dataset_scale("X", {"xsec": 1.0, "sumw": 598.3}, 50.0, cfg) == pytest.approx(100.0)
    assert dataset_scale("data", {"is_data": True, "xsec": 9.0}, 1.0, cfg) == 1.0
    with pytest.raises(ValueError, match="sum of generator weights"):
        dataset_scale("Y", {"xsec": 1.0}, 0.0, cfg)


def test_grouping_and_scaling_by_hand():
    h = hist.Hist(
        hist.axis.StrCategory(["A1", "A2", "S", "D"], name="dataset"),
        hist.axis.Regular(2, 0, 2, name="x"),
        storage=hist.storage.Weight(),
    )
    h.fill(dataset="A1", x=[0.5, 0.5, 1.5], weight=[1.0, 2.0, 3.0])
    h.fill(dataset="A2", x=[0.5], weight=[4.0])
    h.fill(dataset="S", x=[1.5], weight=[1.0])
    h.fill(dataset="D", x=[0.5, 1.5, 1.5], weight=1.0)
    meta = {
        "A1": {"process": "WZ"},
        "A2": {"process": "WZ"},
        "S": {"process": "HNL", "is_signal": True, "m_hnl": 300},
        "D": {"is_data": True},
    }
    scales = {"A1": 2.0, "A2": 0.5, "S": 10.0, "D": 99.0}
    g = group_processes(h, meta, scales)
    wz = g.backgrounds["WZ"]
    # bin 0: 2·(1+2) + 0.5·4 = 8; variance 4·(1+4) + 0.25·16 = 24. bin 1: 2·3 = 6, var 4·9 = 36
    assert wz.values().tolist() == pytest.approx([8.0, 6.0])
    assert wz.variances().tolist() == pytest.approx([24.0, 36.0])
    assert g.signal_at(300.0).values().tolist() == pytest.approx([0.0, 10.0])
    assert g.signal_at(300.0).variances().tolist() == pytest.approx([0.0, 100.0])
    assert g.data.values().tolist() == [1.0, 2.0]  # data never scaled
    assert g.signal_name_at(300) == "HNL"
    assert (wz * 0.5).variances().tolist() == pytest.approx([6.0, 9.0])
