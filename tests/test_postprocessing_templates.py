"""Zero or negative process yields are treated the same in plots, significance and cards, and
the cutflow tables say what they count (numbers hand-computed from the fake output)."""

from __future__ import annotations

import numpy as np
import pytest
import uproot
from test_postprocessing_fake_output import CUTFLOW_WEIGHT, SUMW, make_output

from hnl_coffea.postprocessing.combine import write_datacards
from hnl_coffea.postprocessing.report import postprocess_output


@pytest.fixture(scope="module")
def with_negative_dy(cfg):
    """The fake output plus a DY sample whose SR τμμ events all have weight −1 (net negative
    yield, large statistical error) — as negative generator weights produce."""
    out = make_output(cfg, n=120)
    out["datasets"]["DY"] = {"name": "DY", "process": "DY", "xsec": 1000.0, "is_data": False,
                             "is_signal": False, "m_hnl": None, "era": "2018", "sumw": None,
                             "primary_dataset": None}  # fmt: skip
    out["sumw"]["DY"] = SUMW
    rng = np.random.default_rng(5)
    w = -np.ones(30)
    for syst in ("nominal", "tesUp", "tesDown"):
        common = {"dataset": "DY", "region": "SR", "channel": "taumumu", "systematic": syst}
        out["hists"]["mt_total"].fill(**common, mt_total=rng.exponential(100, 30), weight=w)
        for name in ("score_parametric", "score_transfer"):
            for m in (300, 500):
                out["hists"][name].fill(**common, mhyp=m, score=rng.uniform(0, 1, 30), weight=w)
    return out


def test_negative_process_left_out_everywhere(cfg, with_negative_dy, tmp_path, monkeypatch):
    import hnl_coffea.postprocessing.report_plots as rp

    drawn = []
    monkeypatch.setattr(rp, "plot_stack", lambda b, base, **k: drawn.append((base, set(b))) or [])
    monkeypatch.setattr(rp, "plot_cutflow", lambda *a, **k: [])
    summary = postprocess_output(with_negative_dy, tmp_path / "pp", cfg, plots="default")
    taumumu = [procs for base, procs in drawn if "taumumu" in base.name and "/SR/" in str(base)
               or "binned" in str(base) and "taumumu" in base.name]  # fmt: skip
    assert taumumu and all("DY" not in p and "WZ" in p for p in taumumu)
    assert any("DY: no positive yield" in w for w in summary.warnings)
    write_datacards(with_negative_dy, tmp_path / "dc", cfg)
    card = (tmp_path / "dc" / "m300" / "taumumu_2018.txt").read_text()
    procs = next(ln.split()[1:] for ln in card.splitlines() if ln.startswith("process"))
    assert "DY" not in procs and "WZ" in procs
    with uproot.open(tmp_path / "dc" / "m300" / "shapes.root") as f:
        assert "taumumu_2018/DY" not in {k.split(";")[0] for k in f}
        card_bkg = sum(f[f"taumumu_2018/{p}"].values().sum() for p in set(procs) - {"HNL"})
    # the significance uses exactly the card's background
    row = next(r for r in summary.rows if r["channel"] == "taumumu" and r["mass"] == 300.0
               and r["discriminant"] == "score_transfer")  # fmt: skip
    assert row["background"] == pytest.approx(card_bkg, rel=1e-9)


def test_cutflow_tables_say_what_they_count(postprocessed):
    _, cfg, pdir, _ = postprocessed
    text = (pdir / "cutflow.md").read_text()
    assert (pdir / "cutflow.txt").read_text() == text
    assert "Each row counts the events passing that step and every step before it" in text
    for caption in (
        "yield — expected events",
        "events — unweighted events",
        "sumw — Σ event weights (genWeight × scale factors) before normalisation",
    ):
        assert f"### All channels: {caption}" in text
        assert f"### τμμ: {caption}" in text
    tables = {}
    for block in text.split("### ")[1:]:
        title, *lines = block.splitlines()
        rows = [ln.strip("|").split("|") for ln in lines if ln.startswith("| ")]
        head = [c.strip() for c in rows[0]]
        tables[title.split(" — ")[0]] = {r[0].strip(): dict(zip(head, (c.strip() for c in r)))
                                         for r in rows[1:]}  # fmt: skip
    lumi = cfg.eras["2018"].luminosity_fb
    # WZ: datasets WZ_a (5 pb) and WZ_b (2 pb), each SUMW events at the first step
    wz_yield = (5.0 + 2.0) * 1000 * lumi * CUTFLOW_WEIGHT  # Σw × σL/Σw_gen, Σw = 0.9 SUMW
    assert float(tables["All channels: yield"]["total"]["WZ"]) == pytest.approx(wz_yield, rel=1e-3)
    assert tables["All channels: events"]["total"]["WZ"] == f"{2 * SUMW:.0f}"
    assert float(tables["All channels: sumw"]["total"]["WZ"]) == pytest.approx(2 * SUMW * 0.9)
    # the signal-region step of data is blinded; earlier steps count events
    assert tables["τμμ: yield"]["bjet_veto"]["Data"] == "blinded"
    assert tables["τμμ: yield"]["three_leptons"]["Data"] == f"{150 + 150 // 4}"
    # efficiency of the total background relative to the first row: n / (n + n // 4)
    cell = tables["τμμ: yield"]["bjet_veto"]["Total bkg. (eff.)"]
    assert cell.endswith(f"({150 / (150 + 37):.3g})")
