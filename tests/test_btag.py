"""b-tag scale factors of the b veto (fixed-WP method) and the efficiency-map command, on
hand-built jets against values computed by hand.

The illustrative BTV files (``deepJet_comb``/``_incl``) give, at the medium working point,
SF = 0.95 ± 0.02 for b jets, 0.95 ± 0.05 for c jets and 1.15 ± 0.10 for light jets.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import awkward as ak
import correctionlib
import pytest
from click.testing import CliRunner
from correctionlib import schemav2 as cs

sys.path.insert(0, str(Path(__file__).parent))
from nanoaod_builder import write_nanoaod  # noqa: E402

from hnl_coffea.cli import main  # noqa: E402
from hnl_coffea.corrections import CorrectionProvider  # noqa: E402
from hnl_coffea.corrections.btag import btag_factors, btag_sources  # noqa: E402

SF = {5: 0.95, 4: 0.95, 0: 1.15}
UNC = {5: 0.02, 4: 0.05, 0: 0.10}


def efficiency_file(path: Path, eff: dict[int, float]) -> Path:
    """A correctionlib ``btag_efficiency`` with one efficiency per flavour."""
    by_flavour = cs.Category(
        nodetype="category",
        input="flavor",
        content=[cs.CategoryItem(key=f, value=v) for f, v in eff.items()],
    )
    corr = cs.Correction(
        name="btag_efficiency",
        version=1,
        inputs=[
            cs.Variable(name="working_point", type="string"),
            cs.Variable(name="flavor", type="int"),
            cs.Variable(name="abseta", type="real"),
            cs.Variable(name="pt", type="real"),
        ],
        output=cs.Variable(name="efficiency", type="real"),
        data=cs.Category(
            nodetype="category",
            input="working_point",
            content=[cs.CategoryItem(key=wp, value=by_flavour) for wp in "LMT"],
        ),
    )
    path.write_text(cs.CorrectionSet(schema_version=2, corrections=[corr]).model_dump_json())
    return path


def test_fixed_wp_weight(tmp_path, cfg):
    eff = {5: 0.7, 4: 0.3, 0: 0.1}
    c = cfg.with_overrides(
        {"eras.2018.btag_efficiency": str(efficiency_file(tmp_path / "e.json", eff))}
    )
    jets = ak.Array(
        [
            [
                {"pt": 40.0, "eta": 0.5, "hadronFlavour": 5, "btag": True},
                {"pt": 60.0, "eta": -1.0, "hadronFlavour": 0, "btag": False},
                {"pt": 35.0, "eta": 2.0, "hadronFlavour": 4, "btag": False},
            ],
            [],
            [{"pt": 30.0, "eta": 0.1, "hadronFlavour": 0, "btag": True}],
        ]
    )

    def untagged(flavour: int, sf: float) -> float:
        return (1 - sf * eff[flavour]) / (1 - eff[flavour])

    def expected(bc: int = 0, light: int = 0) -> list[float]:
        sf = {f: SF[f] + (bc if f else light) * UNC[f] for f in SF}
        return [sf[5] * untagged(0, sf[0]) * untagged(4, sf[4]), 1.0, sf[0]]

    nominal, shifts = btag_factors(jets, c, CorrectionProvider(c), variations=True)
    assert nominal.tolist() == pytest.approx(expected())
    assert set(shifts) == {"bc", "light"}  # the illustrative file: up/down only
    assert shifts["bc"][0].tolist() == pytest.approx(expected(bc=1))
    assert shifts["bc"][1].tolist() == pytest.approx(expected(bc=-1))
    assert shifts["light"][0].tolist() == pytest.approx(expected(light=1))
    assert shifts["light"][1].tolist() == pytest.approx(expected(light=-1))


def test_missing_efficiency_map_is_one_line(tmp_path, cfg):
    c = cfg.with_overrides({"eras.2018.btag_efficiency": str(tmp_path / "none.json.gz")})
    jets = ak.Array([[{"pt": 40.0, "eta": 0.5, "hadronFlavour": 5, "btag": True}]])
    with pytest.raises(
        Exception, match="b-tag efficiency map not found.*hnl-coffea btag-efficiency"
    ):
        btag_factors(jets, c, CorrectionProvider(c), variations=False)


def test_real_btv_file_gives_correlated_and_uncorrelated_parts(cfg):
    from test_pog_files import SHARED_POG

    if not SHARED_POG.is_dir():
        pytest.skip("real POG files not present")
    c = cfg.with_overrides({"corrections.pog_root": str(SHARED_POG)})
    # the UL files split b/c and light uncertainties; Run 3 deepJet_light has up/down only
    expected = {
        "2018": ("incl", ["bc_correlated", "bc_2018", "light_correlated", "light_2018"]),
        "2022EE": ("light", ["bc_correlated", "bc_2022EE", "light"]),
    }
    for era, (light, parts) in expected.items():
        view = c.for_era(era)
        assert view.era_config.btag.light == light
        assert [mod for _, mod, _, _ in btag_sources(view, CorrectionProvider(view))] == parts


def test_efficiency_command(tmp_path, cfg):
    jet = {"pt": 40.0, "eta": 0.5, "phi": 1.0}
    events = (
        [{"Jet": [{**jet, "hadronFlavour": 5, "btagDeepFlavB": 0.9}]}] * 7
        + [{"Jet": [{**jet, "hadronFlavour": 5, "btagDeepFlavB": 0.01}]}] * 3
        + [{"Jet": [{**jet, "hadronFlavour": 0, "btagDeepFlavB": 0.9}]}]
        + [{"Jet": [{**jet, "hadronFlavour": 0, "btagDeepFlavB": 0.01}]}] * 9
        + [{"Jet": [{**jet, "pt": 15.0, "hadronFlavour": 0, "btagDeepFlavB": 0.9}]}] * 5
    )  # the last jets fail the pT cut of the selection
    path = write_nanoaod(tmp_path / "mc.root", events)
    fileset = tmp_path / "fileset.json"
    fileset.write_text(json.dumps({"WZ": {"files": [str(path)], "metadata": {"xsec": 1.0}}}))
    out = tmp_path / "eff"
    result = CliRunner().invoke(
        main,
        ["btag-efficiency", str(fileset), "--outdir", str(out), "--executor", "iterative",
         "--no-progress", "--set", "corrections.pog_root=corrections/POG"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "eras.2018.btag_efficiency=" in result.output
    with gzip.open(out / "2018.json.gz", "rt") as f:
        corr = correctionlib.CorrectionSet.from_string(f.read())["btag_efficiency"]
    for wp in "LMT":
        assert corr.evaluate(wp, 5, 0.5, 40.0) == pytest.approx(0.7)
        assert corr.evaluate(wp, 0, 0.5, 40.0) == pytest.approx(0.1)
        assert corr.evaluate(wp, 0, 2.0, 400.0) == pytest.approx(0.1)  # empty bin: flavour's
        assert corr.evaluate(wp, 4, 0.5, 40.0) == pytest.approx(0.15)  # no c jet: default
