"""One style for every plot: checked on what was drawn (the matplotlib artists, read back into
each plot's JSON sidecar or straight from the figure)."""

from __future__ import annotations

import json
from collections import defaultdict

import hist
import matplotlib.colors as mcolors
import numpy as np
import pytest

from hnl_coffea.postprocessing.plots import figure_metadata
from hnl_coffea.postprocessing.plots_stack import SignalLine, stack_figure
from hnl_coffea.postprocessing.style import build_style, signal_scale

NOT_PROCESSES = {"uncertainty", "data", "data_ratio", "band1", "band2", "median", "reference"}


def _sidecars(pdir):
    files = sorted((pdir / "plots").rglob("*.json"))
    return {p.relative_to(pdir / "plots"): json.loads(p.read_text()) for p in files}


def test_every_plot_uses_one_colour_per_process(postprocessed):
    _, cfg, pdir, _ = postprocessed
    sidecars = _sidecars(pdir)
    assert len(sidecars) >= 25  # stacks, binned categories, cutflows, significance, limits
    colours = defaultdict(set)
    for path, meta in sidecars.items():
        for ax in meta["axes"]:
            in_plot: dict[str, set] = defaultdict(set)
            for a in ax["artists"]:
                colours[a["process"]].add(a["color"])
                in_plot[a["process"]].add(a["color"])
            procs = {p: c for p, c in in_plot.items() if p not in NOT_PROCESSES}
            # within a plot: one colour per process, and different processes differ
            assert all(len(c) == 1 for c in procs.values()), (path, procs)
            flat = [next(iter(c)) for c in procs.values()]
            assert len(set(flat)) == len(flat), (path, procs)
    bad = {p: c for p, c in colours.items() if len(c) != 1}
    assert not bad, f"processes with several colours across plots: {bad}"
    configured = {p.name: p.color for p in cfg.postprocessing.style.backgrounds}
    for proc in ("WZ", "ZZ"):
        assert colours[proc] == {configured[proc]}
    assert {"signal_300", "signal_500", "WZ", "ttbar"} <= set(colours)


def test_stacks_follow_the_configured_order_and_label(postprocessed):
    _, cfg, pdir, _ = postprocessed
    order = [p.name for p in cfg.postprocessing.style.backgrounds]
    stacks = {k: v for k, v in _sidecars(pdir).items() if k.parts[0] in ("regions", "binned")}
    assert stacks
    for path, meta in stacks.items():
        main = meta["axes"][0]
        drawn = [a["process"] for a in main["artists"] if not a["process"].startswith("signal")
                 and a["process"] not in NOT_PROCESSES]  # fmt: skip
        known = [p for p in drawn if p in order]
        assert known == sorted(known, key=order.index), (path, drawn)
        # unconfigured processes (ttbar here) go on top, after the configured ones
        assert drawn[: len(known)] == known
        texts = " ".join(main["texts"])
        assert "CMS" in texts and "59.8 fb$^{-1}$ (13 TeV)" in texts, (path, texts)
        data = any(a["process"] == "data" for a in main["artists"])
        assert ("Simulation" in texts) != data, (path, texts)
        if len(meta["axes"]) == 2:  # the ratio panel is attached: no gap
            assert meta["axes"][1]["bbox"][3] == pytest.approx(main["bbox"][1], abs=0.5)
        for a in main["artists"]:  # scaled signals say by how much
            if a["process"].startswith("signal") and "GeV" in a["label"]:
                assert "times" in a["label"] or a["label"].endswith("GeV")


def test_cutflow_legend_is_clear_of_the_axes(postprocessed):
    _, _, pdir, _ = postprocessed
    flows = {k: v for k, v in _sidecars(pdir).items() if k.parts[0] == "cutflow"}
    assert set(k.stem for k in flows) == {
        "all",
        "tautaumu",
        "tautaue",
        "taumumu",
        "taumue",
        "tauee",
    }

    def overlap(a, b):
        return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]

    for path, meta in flows.items():
        legend = meta["axes"][0]["legend"]["bbox"]
        w, h = meta["size_px"]
        assert legend[0] >= 0 and legend[2] <= w and legend[1] >= 0 and legend[3] <= h, path
        for ax in meta["axes"]:
            assert not overlap(legend, ax["bbox"]), (path, legend, ax["bbox"])
            for tick in ax["xticklabels_bbox"]:
                assert not overlap(legend, tick), path
        labels = meta["axes"][0]["legend"]["labels"]
        assert labels[0] == "Total background" and len(labels) <= 6, labels


def _h(values, edges):
    h = hist.Hist(
        hist.axis.Variable(edges, name="x", label="x [GeV]"), storage=hist.storage.Weight()
    )
    h.view()["value"] = values
    h.view()["variance"] = np.abs(values)
    return h


def test_stack_ranges_ratio_arrows_and_empty_data(cfg):
    style = build_style(cfg.postprocessing.style, ["WZ", "ZZ"], [300.0])
    edges = np.arange(0.0, 1100.0, 100.0)  # 10 bins, nothing filled above 600
    wz = _h([50, 40, 30, 20, 10, 5, 0, 0, 0, 0], edges)
    zz = _h([10, 8, 6, 4, 2, 1, 0, 0, 0, 0], edges)
    sig = _h([0, 0, 0.001, 0.004, 0.003, 0.001, 0, 0, 0, 0], edges)
    data = _h([62, 0, 150, 22, 11, 4, 0, 0, 0, 0], edges)  # an empty bin, a ratio above 2
    fig = stack_figure({"WZ": wz, "ZZ": zz}, style=style, data=data,
                       signals=[SignalLine("HNL_M300", 300.0, sig)], lumi="1 fb$^{-1}$ (13 TeV)")  # fmt: skip
    ax, rax = fig.axes
    assert ax.get_xlim() == pytest.approx((0.0, 600.0))  # the filled range only
    top = ax.get_ylim()[1]
    assert 150 < top < 150 * 20  # room for the legend, not decades above the peak
    points = next(c for c in rax.get_children() if c.get_gid() == "data_ratio")
    x, _ = points.get_data()
    # bins: 0 (ratio 62/60), 1 (no data: no point), 2 (150/36 > 2: an arrow), 3, 4, 5
    assert sorted(np.round(x)) == [50.0, 350.0, 450.0, 550.0]
    arrows = [c for c in rax.get_children() if type(c).__name__ == "Annotation"]
    assert len(arrows) == 1 and arrows[0].xy == pytest.approx((250.0, 2.0))
    main_points = next(c for c in ax.get_children() if c.get_gid() == "data")
    assert 150.0 in main_points.get_data()[1] and 0.0 not in main_points.get_data()[1]
    # signal drawn ×k, k in the legend: peak 0.004 against a background peak of 60
    line = next(c for c in ax.get_children() if c.get_gid() == "signal_300")
    assert "$\\times$10000" in line.get_label() or "times" in line.get_label()
    assert signal_scale("auto", 0.004, 60.0) == 10000.0
    assert signal_scale(5.0, 0.004, 60.0) == 5.0 and signal_scale("auto", 1.0, 0.5) == 1.0
    meta = figure_metadata(fig)
    colours = {a["process"]: a["color"] for a in meta["axes"][0]["artists"]}
    assert colours["WZ"] == mcolors.to_hex(style.color("WZ"))
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_cms_label_with_several_energies_stays_clear(cfg):
    import matplotlib.pyplot as plt

    from hnl_coffea.postprocessing.style import lumi_label

    style = build_style(cfg.postprocessing.style, ["WZ"], [])
    edges = np.arange(0.0, 500.0, 100.0)
    label = lumi_label(cfg, ["2017", "2018", "2022EE"])
    assert label == "101 fb$^{-1}$ (13 TeV) + 26.7 fb$^{-1}$ (13.6 TeV)"
    fig = stack_figure({"WZ": _h([5, 4, 3, 2], edges)}, style=style, lumi=label)
    renderer = fig.canvas.get_renderer()
    texts = {t.get_text(): t.get_window_extent(renderer) for t in fig.axes[0].texts}
    assert texts[label].x0 > texts["Simulation Preliminary"].x1
    plt.close(fig)
