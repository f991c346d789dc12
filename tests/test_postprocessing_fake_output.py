"""A small hand-made processor output (contract of ``hnl-coffea run``) for postprocessing tests.

Backgrounds WZ (two datasets), ZZ and ttbar, signals at 300 and 500 GeV, optional collision
data; five channels, regions SR and CR_ttbar; systematics nominal and tesUp/tesDown. Score
histograms are filled for the 300 and 500 GeV hypotheses only.
"""

from __future__ import annotations

import numpy as np

from hnl_coffea.histograms import book_histograms

SUMW = 2000.0
DATASETS = {
    "WZ_a": {"process": "WZ", "xsec": 5.0},
    "WZ_b": {"process": "WZ", "xsec": 2.0},
    "ZZ": {"process": "ZZ", "xsec": 1.5},
    "TTbar": {"process": "ttbar", "xsec": 3.0},
    "HNL_M300": {"process": "HNL", "xsec": 0.02, "is_signal": True, "m_hnl": 300.0},
    "HNL_M500": {"process": "HNL", "xsec": 0.01, "is_signal": True, "m_hnl": 500.0},
    "SingleMuon": {"process": "data", "is_data": True, "primary_dataset": "SingleMuon"},
}
MASSES = (300, 500)


def _meta(name: str, md: dict) -> dict:
    base = {
        "name": name, "process": name, "xsec": None, "is_data": False, "is_signal": False,
        "m_hnl": None, "era": "2018", "sumw": None, "primary_dataset": None,
    }  # fmt: skip
    return {**base, **md}


#: Σw per event in the fake cutflow (simulation; data: 1).
CUTFLOW_WEIGHT = 0.9


def _cutflow(cfg, n: int, is_data: bool) -> dict:
    """Cumulative steps (``hnl_coffea.cutflow`` rows): ``total`` SUMW events, then per
    channel ``n + n // 4`` with three leptons and ``n`` after the b-jet veto."""
    w = 1.0 if is_data else CUTFLOW_WEIGHT

    def row(k: float) -> dict:
        return {"events": int(k), "sumw": k * w, "sumw2": k * w * w}

    n_ch = n + n // 4
    per = {ch: {"total": row(n_ch), "three_leptons": row(n_ch), "bjet_veto": row(n)}
           for ch in cfg.channel_names}  # fmt: skip
    nch = len(cfg.channel_names)
    return {"all": {"total": row(SUMW), "three_leptons": row(nch * n_ch),
                    "bjet_veto": row(nch * n)}, **per}  # fmt: skip


def make_output(
    cfg, *, seed: int = 1, n: int = 400, with_data: bool = True, eras: tuple[str, ...] = ()
) -> dict:
    """The fake output dict (histograms filled with raw weights, not normalised).

    ``eras``: one copy of every dataset per era, named ``<dataset>_<era>`` (default: the
    datasets above, era 2018)."""
    rng = np.random.default_rng(seed)
    hists = book_histograms(cfg)
    chosen = {k: v for k, v in DATASETS.items() if with_data or not v.get("is_data")}
    if eras:
        datasets = {
            f"{k}_{e}": _meta(f"{k}_{e}", {**v, "era": e}) for e in eras for k, v in chosen.items()
        }
    else:
        datasets = {k: _meta(k, v) for k, v in chosen.items()}
    cutflow = {}
    for ds, md in datasets.items():
        is_sig, is_data = md["is_signal"], md["is_data"]
        systs = ["nominal"] if is_data else ["nominal", "tesUp", "tesDown"]
        for region in ("SR", "CR_ttbar"):
            for ch in cfg.channel_names:
                size = n // 4 if region == "CR_ttbar" else n
                w = np.ones(size) if is_data else rng.uniform(0.5, 1.5, size)
                for syst in systs:
                    shift = {"nominal": 1.0, "tesUp": 1.03, "tesDown": 0.97}[syst]
                    if is_sig:
                        mt = rng.normal(md["m_hnl"] * 1.2, 80, size) * shift
                    else:
                        mt = rng.exponential(150, size) * shift
                    hists["mt_total"].fill(
                        dataset=ds, region=region, channel=ch, systematic=syst, mt_total=mt,
                        weight=w,
                    )  # fmt: skip
                    hists["feature_met_pt"].fill(
                        dataset=ds, region=region, channel=ch, systematic=syst,
                        met_pt=mt / 4, weight=w,
                    )  # fmt: skip
                    for m in MASSES:
                        a, b = (8, 1.5) if is_sig and md["m_hnl"] == m else (1.2, 4)
                        for name in ("score_parametric", "score_transfer"):
                            sharp = 1.5 if name == "score_transfer" else 1.0
                            score = rng.beta(a * sharp, b, size)
                            hists[name].fill(
                                dataset=ds, region=region, channel=ch, mhyp=m,
                                systematic=syst, score=score, weight=w,
                            )  # fmt: skip
        cutflow[ds] = _cutflow(cfg, n, is_data)
    return {
        "hists": hists,
        "sumw": {ds: SUMW for ds, md in datasets.items() if not md["is_data"]},
        "cutflow": cutflow,
        "processed": {ds: {f"{ds}.root": int(SUMW)} for ds in datasets},
        "datasets": datasets,
        "config": cfg.to_dict(),
    }


def test_fake_output_follows_the_contract(cfg):
    out = make_output(cfg, n=20)
    assert set(out) >= {"hists", "sumw", "cutflow", "processed", "datasets", "config"}
    h = out["hists"]["mt_total"]
    assert set(h.axes["dataset"]) == set(DATASETS)
    assert h[{"dataset": "SingleMuon", "systematic": "nominal"}].values().sum() > 0
