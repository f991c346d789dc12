"""Booking: chunk histograms hold their dataset, every region, channel and systematic from
the start, so filling ~40 systematics one after another never grows (copies) an axis."""

from __future__ import annotations

import numpy as np

from hnl_coffea.histograms import MC_DOWN, MC_UP, NOMINAL, book_histograms, fill_entries


def test_booked_labels_and_filling_them_leaves_the_axes_alone(cfg):
    systs = ["tauIDUp", "tauIDDown", "JES_TotalUp", "tauIDUp"]  # repeats are booked once
    hists = book_histograms(cfg, dataset="WZ", systematics=systs)
    h = hists["score_parametric"]
    assert list(h.axes["dataset"]) == ["WZ"]
    assert list(h.axes["region"]) == [r.name for r in cfg.regions]
    assert list(h.axes["channel"]) == list(cfg.channel_names)
    assert list(h.axes["systematic"]) == [NOMINAL, "tauIDUp", "tauIDDown", "JES_TotalUp"]
    before = h.axes[0].size, h.axes["systematic"].size
    fill_entries(hists["mt_total"], value=np.array([50.0, 120.0]), weight=np.array([1.0, 2.0]),
                 dataset="WZ", systematic="JES_TotalUp", region=np.array(["SR", "CR_Z"]),
                 channel=np.array([cfg.channel_names[0]] * 2))  # fmt: skip
    m = hists["mt_total"]
    assert (m.axes[0].size, m.axes["systematic"].size) == before
    got = m[{"dataset": "WZ", "systematic": "JES_TotalUp", "channel": cfg.channel_names[0]}]
    assert got[{"region": "SR"}].sum().value == 1.0 and got[{"region": "CR_Z"}].sum().value == 2.0
    assert m[{"systematic": NOMINAL}].sum().value == 0.0  # booked, never filled: zero


def test_unbooked_histograms_start_empty_and_mc_dropout_books_its_shifts(cfg):
    assert all(len(h.axes["dataset"]) == 0 for h in book_histograms(cfg).values())
    mc = cfg.with_overrides({"models.mc_dropout_passes": 3})
    booked = book_histograms(mc, dataset="WZ", systematics=["tauIDUp"])
    means = [k for k in booked if k.endswith("_mc")]
    assert means and all(
        list(booked[k].axes["systematic"]) == [NOMINAL, MC_UP, MC_DOWN] for k in means
    )
    assert all(list(booked[f"{k}std"].axes["systematic"]) == [NOMINAL] for k in means)
