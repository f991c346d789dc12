"""Real CMS POG correction files, as published in jsonpog-integration, drop in by era.

``../shared/cms/POG`` holds the real TAU, MUO, EGM, LUM, BTV and JME files of 2018_UL and
all but TAU of 2022_Summer22EE, in the /cvmfs layout. With it as ``corrections.pog_root``
both eras run with no correction-name override, and their weights differ from those of the
shipped illustrative files. Skipped when the folder is absent.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from conftest import ILLUSTRATIVE  # noqa: E402

from hnl_coffea import load_config  # noqa: E402
from hnl_coffea.corrections import CorrectionError, CorrectionProvider  # noqa: E402
from hnl_coffea.corrections.evaluators import correction_file  # noqa: E402
from hnl_coffea.histograms import NOMINAL  # noqa: E402
from hnl_coffea.paths import data_path  # noqa: E402
from hnl_coffea.runner import RunOptions, run_fileset  # noqa: E402
from processors import HNLProcessor  # noqa: E402

SHARED_POG = Path(__file__).resolve().parents[1].parent / "shared" / "cms" / "POG"
NO_MODELS = {"models.parametric": None, "models.transfer": None, "models.mass_regression": None}


@pytest.fixture(scope="module")
def shared_pog() -> Path:
    if not SHARED_POG.is_dir():
        pytest.skip(f"real POG files not present at {SHARED_POG}")
    return SHARED_POG


@pytest.fixture(scope="module")
def pog_2022ee(shared_pog, tmp_path_factory) -> Path:
    """The real 2022_Summer22EE files plus the illustrative TAU file (the real one is not
    among the shared files): a POG root laid out as on /cvmfs."""
    root = tmp_path_factory.mktemp("POG")
    for pog in ("MUO", "EGM", "LUM", "BTV", "JME"):
        (root / pog).mkdir()
        (root / pog / "2022_Summer22EE").symlink_to(shared_pog / pog / "2022_Summer22EE")
    (root / "TAU").mkdir()
    (root / "TAU" / "2022_Summer22EE").symlink_to(
        data_path("corrections/POG/TAU/2022_Summer22EE"), target_is_directory=True
    )
    return root


def _toy(tmp_path_factory, era: str, layout: str) -> dict:
    from hnl_coffea.toymc import generate_fileset

    cfg = load_config(overrides=ILLUSTRATIVE).for_era(era)
    out = tmp_path_factory.mktemp(f"toy{era}")
    path = generate_fileset(
        out, 3000, seed=9, samples=["WZTo3LNu", "HNL_M300"], layout=layout, cfg=cfg
    )
    return json.loads(path.read_text())


def _weights(fileset, root: str | Path, era: str) -> tuple[dict, dict]:
    """Σ nominal weight per (dataset, systematic) over the SR, and the run output."""
    cfg = load_config(overrides={"corrections.pog_root": str(root), "era": era, **NO_MODELS})
    proc = HNLProcessor(cfg, models=False, systematics=True)
    out, _ = run_fileset(proc, fileset, RunOptions(chunksize=50_000, status=False))
    h = out["hists"]["mt_total"]
    sums = {
        (ds, syst): h[{"dataset": ds, "systematic": syst}].sum(flow=True).value
        for ds in h.axes["dataset"]
        for syst in h.axes["systematic"]
    }
    return sums, out


@pytest.mark.parametrize("era, layout", [("2018", "legacy"), ("2022EE", "modern")])
def test_real_pog_files_run_without_name_overrides(
    era, layout, shared_pog, pog_2022ee, tmp_path_factory
):
    fileset = _toy(tmp_path_factory, era, layout)
    root = shared_pog if era == "2018" else pog_2022ee
    cfg = load_config(overrides={"corrections.pog_root": str(root)}).for_era(era)
    assert not cfg.corrections.names  # no override anywhere
    kinds = ["tau", "muon", "electron", "pileup", "btag", "jerc"]
    for kind in kinds + (["jetvetomap"] if era == "2022EE" else []):
        path = correction_file(cfg, kind)
        assert path.is_file() and str(path).startswith(str(root)), kind
    real, out = _weights(fileset, root, era)
    fake, _ = _weights(fileset, data_path("corrections/POG"), era)
    nominal = [k for k in real if k[1] == NOMINAL]
    assert {k for k in fake if k[1] == NOMINAL} == set(nominal)
    assert nominal and all(real[k] > 0 for k in nominal)
    # real scale factors are not the illustrative ones
    assert all(not np.isclose(real[k], fake[k], rtol=1e-6) for k in nominal)
    systs = {s for _, s in real}
    assert {"muonIDUp", "pileupUp", "eleIDUp", "triggerMuUp", "triggerDiTauUp"} <= systs
    # EGM publishes single-electron trigger SFs for Run 3 only
    assert ("triggerEUp" in systs) == (era == "2022EE")
    # the real JME and BTV files: JEC/JER re-applied, JES/JER shapes, b-tag SF parts
    assert {"JES_TotalUp", "JES_TotalDown", "JERUp", "JERDown"} <= systs
    assert {"btagSF_bc_correlatedUp", f"btagSF_bc_{era}Down"} <= systs
    ds = "HNL_M300"  # genuine τh (genmatch 5) carry the τ ID scale factor
    if era == "2018":
        # the real UL TAU file: DeepTau2017v2p1 names, its energy scale, and τ ID
        # uncertainties split into named parts (by decay mode there is no total up/down):
        # each part is a nuisance of its own, none silently equal to the nominal
        assert {"tauES_DM0Up", "tauES_DM10Down"} <= systs
        parts = {
            s[len("tauID_") : -2] for s in systs if s.startswith("tauID_") and s.endswith("Up")
        }
        assert {"stat1_dm0", "stat1_dm1", "syst_2018", "syst_alleras"} <= parts
        assert "tauIDUp" not in systs
        for part in ("stat1_dm0", "stat1_dm1", "syst_alleras"):
            # (stat1/stat2 are the parameters of a fit in pT: "up" may lower the SF)
            up, down = real[(ds, f"tauID_{part}Up")], real[(ds, f"tauID_{part}Down")]
            assert not np.isclose(up, real[(ds, NOMINAL)], rtol=1e-7), part
            assert not np.isclose(down, real[(ds, NOMINAL)], rtol=1e-7), part
    else:  # the illustrative TAU file has a total up/down
        assert real[(ds, "tauIDUp")] > real[(ds, NOMINAL)] > real[(ds, "tauIDDown")]


def test_missing_pog_file_and_name_are_one_line(tmp_path, shared_pog):
    """A POG root without the era's folder, and a name the real file lacks."""
    cfg = load_config(overrides={"corrections.pog_root": str(tmp_path)}).for_era("2017")
    provider = CorrectionProvider(cfg)
    with pytest.raises(CorrectionError) as err:
        provider.correction("muon", "NUM_MediumID_DEN_TrackerMuons")
    msg = str(err.value)
    assert "\n" not in msg and "era '2017'" in msg and "MUO" in msg
    assert str(tmp_path / "MUO" / "2017_UL" / "muon_Z.json.gz") in msg
    real = CorrectionProvider(
        load_config(overrides={"corrections.pog_root": str(shared_pog)}).for_era("2018")
    )
    with pytest.raises(CorrectionError) as err:
        real.correction("tau", "DeepTau2018v2p5VSjet")  # not in the UL 2018 file
    msg = str(err.value)
    assert "\n" not in msg and "era '2018'" in msg and "TAU" in msg and "tau.json.gz" in msg
    assert "it has: DeepTau2017v2p1VSe, DeepTau2017v2p1VSjet" in msg


def test_nominal_tau_energy_scale_from_the_real_file(shared_pog, tmp_path):
    """The selected τh carry the nominal energy scale of the real UL file (read here with
    correctionlib directly), for genuine τh and e→τh; the variations sit around it."""
    import correctionlib
    from nanoaod_builder import open_events, write_nanoaod

    from hnl_coffea.corrections.shifts import shape_variations
    from hnl_coffea.resolve import ProviderCache, era_view, nominal_selection

    taus = [
        {"pt": 45.0, "eta": 0.4, "phi": 0.0, "charge": 1, "decayMode": 1, "genPartFlav": 5},
        {"pt": 35.0, "eta": -1.1, "phi": 2.5, "charge": -1, "decayMode": 0, "genPartFlav": 1},
    ]
    event = {"Tau": taus, "Muon": [{"pt": 30.0, "eta": 1.0, "phi": -2.0, "charge": -1}]}
    path = write_nanoaod(tmp_path / "ev.root", [event], layout="legacy")
    events = open_events(path)
    events.metadata.update({"dataset": "WZ", "filename": str(path)})
    cfg = load_config(overrides={"corrections.pog_root": str(shared_pog)})
    view, layout = era_view(events, cfg, "2018")
    provider = ProviderCache()(view)
    raw, objs, sel, _ = nominal_selection(events, view, layout, provider, is_data=False)
    tes = correctionlib.CorrectionSet.from_file(str(shared_pog / "TAU/2018_UL/tau.json.gz"))[
        "tau_energy_scale"
    ]

    def scale(t, syst):
        args = (t["pt"], t["eta"], t["decayMode"], t["genPartFlav"], "DeepTau2017v2p1", syst)
        return tes.evaluate(*(np.float32(a) if isinstance(a, float) else a for a in args))

    got = objs.taus.pt[0].tolist()
    want = [np.float32(t["pt"]) * scale(t, "nom") for t in taus]
    assert got == pytest.approx(want, rel=1e-6)
    assert all(abs(s - 1.0) > 1e-4 for s in (scale(t, "nom") for t in taus))
    assert sel.leptons.pt[0, 0] == pytest.approx(max(want), rel=1e-6)
    up = next(v for v in shape_variations(view) if v.name == "tauES_DM1Up")
    shifted = up.apply(raw, objs, provider).objects.taus.pt[0].tolist()
    assert shifted[0] == pytest.approx(np.float32(45.0) * scale(taus[0], "up"), rel=1e-6)
    assert scale(taus[0], "down") < scale(taus[0], "nom") < scale(taus[0], "up")
    assert shifted[1] == pytest.approx(want[1], rel=1e-6)  # DM 0 stays nominal


def test_real_ditau_trigger_scale_factor(shared_pog, cfg):
    """The 2018 UL TAU file's ``tau_trigger`` (ditau, sf, Medium) on the two τh legs of an
    event assigned to the di-τ path, against correctionlib called directly on the file."""
    import awkward as ak
    import correctionlib

    from hnl_coffea.corrections import event_weights

    real = load_config(overrides={"corrections.pog_root": str(shared_pog)}).for_era("2018")
    leptons = ak.zip(
        {
            "pt": [[55.0, 43.0, 30.0]], "eta": [[0.3, -1.2, 0.5]], "flavour": [["tau", "tau", "mu"]],
            "decayMode": [[1, 10, -1]], "genPartFlav": [[0, 0, 0]], "trigger_leg": [[2, 2, -1]],
        }
    )  # fmt: skip
    info = ak.zip({"genWeight": [1.0], "Pileup_nTrueInt": [30.0]})
    w = event_weights(leptons, info, real, CorrectionProvider(real), is_data=False)
    tt = correctionlib.CorrectionSet.from_file(str(shared_pog / "TAU/2018_UL/tau.json.gz"))
    sf = tt["tau_trigger"]

    def both(syst: str) -> float:
        return sf.evaluate(55.0, 1, "ditau", "Medium", "sf", syst) * sf.evaluate(
            43.0, 10, "ditau", "Medium", "sf", syst
        )

    assert w.partial_weight(include=["triggerDiTau"])[0] == pytest.approx(both("nom"))
    ratio = w.weight("triggerDiTauUp")[0] / w.weight()[0]
    assert ratio == pytest.approx(both("up") / both("nom"))
    assert w.partial_weight(include=["triggerMu"])[0] == 1.0  # the μ takes no leg
