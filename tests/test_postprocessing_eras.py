"""Several eras in one output: per-era normalisation, cards per era and combined with the
luminosity split and the configured correlations, significances and plot labels per era."""

from __future__ import annotations

import hist
import pytest
import uproot
from test_combine_datacards import parse_card
from test_postprocessing_fake_output import SUMW, make_output

from hnl_coffea.postprocessing.combine import write_datacards
from hnl_coffea.postprocessing.normalise import normalise_output
from hnl_coffea.postprocessing.report import postprocess_output
from hnl_coffea.postprocessing.style import lumi_label

WZ_XSEC = {"WZ_a": 5.0, "WZ_b": 2.0}  # pb, as in the fake output


@pytest.fixture(scope="module")
def two_eras(cfg):
    return make_output(cfg, n=150, eras=("2017", "2018"))


def _raw(output, hist_name, ds, **cut):
    h = output["hists"][hist_name]
    sel = {"dataset": ds, "region": "SR", "systematic": "nominal", **cut}
    return float(h[sel].values(flow=True).sum())


def test_each_dataset_is_normalised_to_its_own_era(cfg, two_eras):
    per_era = {e: normalise_output(two_eras, cfg, eras=[e]) for e in ("2017", "2018")}
    both = normalise_output(two_eras, cfg)
    total = 0.0
    for era, lumi in (("2017", 41.48), ("2018", 59.83)):
        # hand: Σ_datasets raw Σw × σ [pb] × 1000 × L [fb⁻¹] / Σw_gen
        expect = sum(
            _raw(two_eras, "mt_total", f"{ds}_{era}", channel="taumumu") * xs * 1000 * lumi / SUMW
            for ds, xs in WZ_XSEC.items()
        )
        wz = per_era[era]["mt_total"].backgrounds["WZ"]
        got = wz[{"region": "SR", "channel": "taumumu", "systematic": "nominal"}]
        assert got.values(flow=True).sum() == pytest.approx(expect, rel=1e-12)
        total += expect
    wz = both["mt_total"].backgrounds["WZ"]
    sel = {"region": "SR", "channel": "taumumu", "systematic": "nominal"}
    assert wz[sel].values(flow=True).sum() == pytest.approx(total, rel=1e-12)


def _cells(card, name):
    row = next(n for n in card["nuisances"] if n[0] == name)
    return dict(zip(zip(card["bins_proc"], card["processes"]), row[2:]))


def _parse(path):
    card = parse_card(path.read_text())
    lines = [ln.split() for ln in path.read_text().splitlines() if ln.startswith("bin")]
    card["channels"], card["bins_proc"] = lines[0][1:], lines[1][1:]
    return card


def test_cards_per_era_and_combined(cfg, two_eras, tmp_path):
    write_datacards(two_eras, tmp_path, cfg)
    m = tmp_path / "m300"
    for era in ("2017", "2018"):
        for ch in cfg.channel_names:
            assert (m / f"{ch}_{era}.txt").is_file()
    comb = _parse(m / "combined.txt")
    assert sorted(comb["channels"]) == sorted(
        f"{c}_{e}" for c in cfg.channel_names for e in ("2017", "2018")
    )
    names = {n[0]: n[1] for n in comb["nuisances"]}
    # the LUM POG split: per-year parts on their own era, shared parts on both
    expect = {
        "lumi_13TeV_2017": {"2017": "1.02", "2018": "-"},
        "lumi_13TeV_2018": {"2017": "-", "2018": "1.015"},
        "lumi_13TeV_correlated": {"2017": "1.009", "2018": "1.02"},
        "lumi_13TeV_1718": {"2017": "1.006", "2018": "1.002"},
    }
    for name, per_era in expect.items():
        assert names[name] == "lnN"
        for (b, _p), cell in _cells(comb, name).items():
            assert cell == per_era[b.rsplit("_", 1)[1]], (name, b)
    assert not any(n.startswith("lumi_13TeV_2016") for n in names)
    # background normalisation: correlated across eras (norm_*), on its process only
    for (_b, p), cell in _cells(comb, "norm_WZ").items():
        assert cell == ("1.1" if p == "WZ" else "-")
    # shape systematics: one nuisance per era
    assert names["tes_2017"] == names["tes_2018"] == "shape" and "tes" not in names
    for (b, p), cell in _cells(comb, "tes_2017").items():
        assert (cell == "1") == (b.endswith("_2017") and p != "data_obs")
    # per-era combination: only that era's bins and luminosity parts
    c17 = _parse(m / "combined_2017.txt")
    assert all(b.endswith("_2017") for b in c17["channels"]) and len(c17["channels"]) == 5
    assert not any(n[0] in ("lumi_13TeV_2018", "tes_2018") for n in c17["nuisances"])
    # templates: renamed per era, normalised with the era's luminosity
    with uproot.open(m / "shapes.root") as f:
        keys = {k.split(";")[0] for k in f}
        assert "taumumu_2017/WZ_tes_2017Up" in keys and "taumumu_2017/WZ_tes_2018Up" not in keys
        for era, lumi in (("2017", 41.48), ("2018", 59.83)):
            raw = sum(
                _raw(
                    two_eras, "score_transfer", f"{ds}_{era}", channel="taumumu", mhyp=hist.loc(300)
                )
                * xs
                for ds, xs in WZ_XSEC.items()
            )
            assert f[f"taumumu_{era}/WZ"].values().sum() == pytest.approx(
                raw * 1000 * lumi / SUMW, rel=1e-9
            )


def test_correlations_are_configured(cfg, two_eras, tmp_path):
    cfg2 = cfg.with_overrides({"postprocessing.correlated_across_eras": ["tes"]})
    write_datacards(two_eras, tmp_path, cfg2)
    comb = _parse(tmp_path / "m300" / "combined.txt")
    names = {n[0] for n in comb["nuisances"]}
    assert "tes" in names and "tes_2017" not in names
    assert {"norm_WZ_2017", "norm_WZ_2018"} <= names and "norm_WZ" not in names
    with uproot.open(tmp_path / "m300" / "shapes.root") as f:
        assert "taumumu_2017/WZ_tesUp" in {k.split(";")[0] for k in f}


def test_run2_and_run3_eras(cfg, tmp_path):
    out = make_output(cfg, n=60, eras=("2018", "2022EE"), with_data=False)
    write_datacards(out, tmp_path, cfg)
    comb = _parse(tmp_path / "m500" / "combined.txt")
    for (b, _p), cell in _cells(comb, "lumi_13p6TeV_2022").items():
        assert cell == ("1.014" if b.endswith("_2022EE") else "-")
    for (b, _p), cell in _cells(comb, "lumi_13TeV_correlated").items():
        assert cell == ("-" if b.endswith("_2022EE") else "1.02")
    assert lumi_label(cfg, ["2018", "2022EE"]) == (
        "59.8 fb$^{-1}$ (13 TeV) + 26.7 fb$^{-1}$ (13.6 TeV)"
    )


def test_significance_and_plots_per_era_and_combined(cfg, two_eras, tmp_path, monkeypatch):
    import hnl_coffea.postprocessing.report_plots as rp

    seen = []
    monkeypatch.setattr(rp, "plot_stack", lambda *a, **k: seen.append((a[1], k["lumi"])) or [])
    monkeypatch.setattr(rp, "plot_cutflow", lambda *a, **k: seen.append((a[1], k["lumi"])) or [])
    monkeypatch.setattr(rp, "plot_significance", lambda *a, **k: [])
    monkeypatch.setattr(rp, "plot_limits", lambda *a, **k: [])
    summary = postprocess_output(two_eras, tmp_path, cfg, plots="default")
    rows = summary.rows
    assert {r["era"] for r in rows} == {"2017", "2018", "all"}
    for disc, mass in {(r["discriminant"], r["mass"]) for r in rows}:
        per = [r["asimov"] for r in rows if r["era"] in ("2017", "2018")
               and r["channel"] in cfg.channel_names and r["discriminant"] == disc
               and r["mass"] == mass]  # fmt: skip
        comb = next(r for r in rows if r["era"] == "all" and r["channel"] == "combined"
                    and r["discriminant"] == disc and r["mass"] == mass)  # fmt: skip
        assert len(per) == 10
        assert comb["asimov"] == pytest.approx(sum(z * z for z in per) ** 0.5, rel=1e-12)
    # expected results: analysed luminosity is the sum of the two eras
    analysed = [r["luminosity_fb"] for r in summary.expected if r["scenario"] == "analysed"]
    assert analysed and all(x == pytest.approx(41.48 + 59.83) for x in analysed)
    labels = {}
    for base, lumi in seen:
        view = base.parts[base.parts.index("plots") + 1]
        labels.setdefault(view if view == "eras" else "combined", set())
        key = base.parts[base.parts.index("plots") + 2] if view == "eras" else "combined"
        labels.setdefault(key, set()).add(lumi)
    assert labels["combined"] == {"101 fb$^{-1}$ (13 TeV)"}
    assert labels["2017"] == {"41.5 fb$^{-1}$ (13 TeV)"}
    assert labels["2018"] == {"59.8 fb$^{-1}$ (13 TeV)"}
