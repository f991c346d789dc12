"""Combine export: shapes round trip with uproot, datacard syntax, blinding, name checks."""

from __future__ import annotations

import hist
import numpy as np
import pytest
import uproot
from test_postprocessing_fake_output import make_output

from hnl_coffea.outputs import load_output
from hnl_coffea.postprocessing.categories import nominal
from hnl_coffea.postprocessing.combine import (
    CardChannel,
    clip_negative,
    datacard_text,
    validate_names,
    write_datacards,
)
from hnl_coffea.postprocessing.report import postprocess_output


def parse_card(text: str) -> dict:
    """A minimal datacard reader with the checks combine's parser applies."""
    lines = [ln.split() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    lines = [ln for ln in lines if not ln[0].startswith("---")]
    head = {ln[0]: ln[1] for ln in lines if ln[0] in ("imax", "jmax", "kmax")}
    shapes = [ln for ln in lines if ln[0] == "shapes"]
    bins = [ln for ln in lines if ln[0] == "bin"]
    procs = [ln for ln in lines if ln[0] == "process"]
    obs = next(ln for ln in lines if ln[0] == "observation")
    rate = next(ln for ln in lines if ln[0] == "rate")
    start = lines.index(rate) + 1
    nuis = [ln for ln in lines[start:] if ln[0] != "*" and ln[0] != "shapes"]
    cols = len(bins[1]) - 1
    assert len(bins[0]) - 1 == int(head["imax"]) == len(obs) - 1
    assert len(procs[0]) - 1 == len(procs[1]) - 1 == len(rate) - 1 == cols
    assert len({p for p in procs[0][1:]}) == int(head["jmax"]) + 1
    assert len(nuis) == int(head["kmax"])
    for n in nuis:
        assert n[1] in ("lnN", "shape"), n
        assert len(n) - 2 == cols, n
    names = [n[0] for n in nuis]
    assert len(set(names)) == len(names)
    idx = dict(zip(procs[0][1:], map(int, procs[1][1:])))
    assert all(len(sh) == 6 for sh in shapes)
    return {
        "head": head, "shapes": shapes, "bins": bins[1][1:], "processes": procs[0][1:],
        "index": idx, "observation": list(map(float, obs[1:])), "nuisances": nuis,
        "auto": any(ln[:2] == ["*", "autoMCStats"] for ln in lines),
    }  # fmt: skip


@pytest.fixture(scope="module")
def output():
    from hnl_coffea import load_config

    return make_output(load_config(), n=300)


def test_cards_parse_and_shapes_round_trip(output, cfg, tmp_path):
    paths = write_datacards(output, tmp_path, cfg)
    card_text = (tmp_path / "m300" / "taumumu_2018.txt").read_text()
    card = parse_card(card_text)
    assert card["bins"] == ["taumumu_2018"] * 4
    assert card["index"] == {"HNL": 0, "WZ": 1, "ZZ": 2, "ttbar": 3}
    assert card["shapes"][0] == [
        "shapes", "*", "*", "shapes.root", "$CHANNEL/$PROCESS",
        "$CHANNEL/$PROCESS_$SYSTEMATIC",
    ]  # fmt: skip
    assert card["auto"]
    kinds = {n[0]: n[1] for n in card["nuisances"]}
    # the 2018 luminosity uncertainty in its LUM POG parts; shape systematics per era
    lumi = {n[0]: n[2:] for n in card["nuisances"] if n[0].startswith("lumi_")}
    assert lumi == {"lumi_13TeV_2018": ["1.015"] * 4, "lumi_13TeV_correlated": ["1.02"] * 4,
                    "lumi_13TeV_1718": ["1.002"] * 4}  # fmt: skip
    assert kinds["tes_2018"] == "shape" and "tes" not in kinds
    assert kinds["norm_WZ"] == "lnN"
    assert "Asimov" in card_text
    comb = parse_card((tmp_path / "m300" / "combined.txt").read_text())
    assert comb["head"]["imax"] == "5" and len(comb["processes"]) == 20
    assert tmp_path / "m500" / "combined.txt" in paths

    # round trip: the shapes file reproduces the rebinned templates (values and variances)
    summary = postprocess_output(output, tmp_path / "pp", cfg, plots="none")
    rebinned = load_output(summary.outdir / "rebinned.zip")["score_transfer"]["m300"]["2018"]
    rebinned = rebinned["taumumu"]
    with uproot.open(tmp_path / "m300" / "shapes.root") as f:
        wz = f["taumumu_2018/WZ"]
        ref = nominal(rebinned["backgrounds"]["WZ"])
        assert np.allclose(wz.axis().edges(), rebinned["edges"])
        assert np.allclose(wz.values(), ref.values())
        assert np.allclose(wz.variances(), ref.variances())
        up = f["taumumu_2018/ZZ_tes_2018Up"].values()
        ref_up = rebinned["backgrounds"]["ZZ"][{"systematic": "tesUp"}].values()
        assert np.allclose(up, ref_up)
        # Asimov data: sum of the background templates
        total = sum(nominal(h).values() for h in rebinned["backgrounds"].values())
        assert np.allclose(f["taumumu_2018/data_obs"].values(), total)
        assert card["observation"][0] == pytest.approx(total.sum(), rel=1e-5)


def test_unblind_uses_observed_data(output, cfg, tmp_path):
    write_datacards(output, tmp_path, cfg, unblind=True)
    text = (tmp_path / "m300" / "tauee_2018.txt").read_text()
    assert "# data_obs: observed data" in text
    # every fake data event has weight 1 and a score inside [0, 1]: 300 events in the SR
    with uproot.open(tmp_path / "m300" / "shapes.root") as f:
        assert f["tauee_2018/data_obs"].values().sum() == pytest.approx(300.0)
    assert parse_card(text)["observation"] == [300.0]


def test_blinded_plots_hide_signal_region_data(output, cfg, tmp_path, monkeypatch):
    import hnl_coffea.postprocessing.report_plots as rp

    seen = []
    monkeypatch.setattr(rp, "plot_stack", lambda *a, **k: seen.append((a[1], k["data"])) or [])
    monkeypatch.setattr(rp, "plot_significance", lambda *a, **k: [])
    monkeypatch.setattr(rp, "plot_cutflow", lambda *a, **k: [])
    monkeypatch.setattr(rp, "plot_limits", lambda *a, **k: [])
    postprocess_output(output, tmp_path / "b", cfg, plots="default")
    sr = [d for base, d in seen if "/SR/" in str(base) or "/binned/" in str(base)]
    cr = [d for base, d in seen if "/CR_ttbar/" in str(base)]
    assert sr and all(d is None for d in sr)
    assert cr and all(d is not None for d in cr)
    seen.clear()
    postprocess_output(output, tmp_path / "u", cfg, plots="default", unblind=True)
    assert all(d is not None for base, d in seen)


def test_names_are_validated_and_negative_bins_clipped():
    with pytest.raises(ValueError, match="not valid"):
        validate_names(["W Z"], "process")
    with pytest.raises(ValueError, match="unique"):
        validate_names(["WZ", "WZ"], "process")
    h = hist.Hist(hist.axis.Regular(3, 0, 3), storage=hist.storage.Weight())
    h.fill([0.5, 1.5, 2.5], weight=[1.0, -2.0, 3.0])
    with pytest.warns(UserWarning, match="1 negative bin"):
        c = clip_negative(h, "ch/WZ")
    assert c.values().tolist() == [1.0, 0.0, 3.0]
    assert c.variances().tolist() == [1.0, 4.0, 9.0]


def test_empty_background_is_left_out(cfg):
    from hnl_coffea.postprocessing.categories import BinnedCategory
    from hnl_coffea.postprocessing.combine import card_channel

    def one(vals):
        h = hist.Hist(
            hist.axis.StrCategory(["nominal"], name="systematic"),
            hist.axis.Regular(2, 0, 1, name="score"),
            storage=hist.storage.Weight(),
        )
        h.view()["value"][0] = vals
        h.view()["variance"][0] = vals
        return h

    cat = BinnedCategory(
        "score_transfer", "tauee", 300.0, np.array([0, 0.5, 1.0]),
        {"WZ": one([4.0, 1.0]), "ZZ": one([0.0, 0.0])}, one([0.5, 2.0]), "HNL",
    )  # fmt: skip
    ch = card_channel(cat, use_data=False)
    assert set(ch.processes) == {"HNL", "WZ"}
    assert ch.data_obs.values().tolist() == [4.0, 1.0]
    lnn = {"tauee": {"lumi": {"HNL": 0.02, "WZ": 0.02}, "norm_WZ": {"WZ": 0.1}}}
    text = datacard_text([ch], {"tauee": {}}, "s.root", lnn=lnn)
    parsed = parse_card(text)
    assert parsed["processes"] == ["HNL", "WZ"] and parsed["head"]["kmax"] == "2"
    assert isinstance(CardChannel, type)
