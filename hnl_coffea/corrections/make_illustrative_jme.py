"""The ILLUSTRATIVE JME files of ``data/corrections/POG/JME/<tag>/``: ``jet_jerc.json.gz``
(JEC, JES sources, JER) and ``jetvetomaps.json.gz``, with the names and inputs of the
official files for each era's tags (``eras.<era>.jets``).

The values describe the toy detector of :mod:`hnl_coffea.toymc.detector`, NOT CMS: the
L1FastJet correction removes its pile-up offset ``JET_PU_OFFSET × ρ × area``, L2Relative
divides by its response per |η| bin (so re-applying the JEC to a toy jet gives back its
stored pT), L3Absolute is 1, L2L3Residual 1 in simulation and ``1 + 0.001 (k + 1)`` in the
k-th data period; the JER resolution is the toy's, the scale factors are made up.
"""

from __future__ import annotations

from collections.abc import Sequence

from correctionlib import schemav2 as cs

from ..config import AnalysisConfig
from ..toymc.detector import (
    JET_PU_OFFSET,
    JET_RESOLUTION,
    JET_RESPONSE,
    JET_RESPONSE_ABSETA,
)
from ._schema import ILLUSTRATIVE, correction, variable

__all__ = ["build_jerc", "build_jetvetomap", "JER_SF", "JES_SOURCES"]

#: JER scale factor (nominal, uncertainty) per |η| bin of JET_RESPONSE_ABSETA.
JER_SF = ((1.10, 0.03), (1.15, 0.05), (1.20, 0.08), (1.15, 0.10))
#: JES sources: relative uncertainty δ = a + b / pT, ``a`` per |η| bin, ``b``.
JES_SOURCES = {
    "Total": ((0.010, 0.015, 0.025, 0.035), 0.4),
    "FlavorQCD": ((0.006, 0.008, 0.010, 0.012), 0.2),
    "RelativeBal": ((0.004, 0.008, 0.015, 0.020), 0.0),
}
#: Vetoed (η, φ) cells of the illustrative jet veto maps (one hot, one cold region).
VETO_ETA_EDGES = tuple(round(-5.191 + i * 0.5191, 4) for i in range(21))
VETO_PHI_EDGES = tuple(round(-3.1416 + i * 0.3491, 4) for i in range(18)) + (3.1416,)
VETO_CELLS = ((13, 11), (7, 3))


_var = variable


JET_A = _var("JetA", "real", "area of the jet")
JET_ETA = _var("JetEta", "real", "pseudorapidity of the jet")
JET_PT = _var("JetPt", "real", "pT of the jet before this correction (JER: fully corrected)")
RHO = _var("Rho", "real", "energy density rho (as measure of PU)")
SYST = _var("systematic", "string", "nom, up, down")


def _signed_edges() -> list[float]:
    pos = list(JET_RESPONSE_ABSETA)
    return [-e for e in reversed(pos[1:])] + pos


def _by_eta(values: Sequence) -> cs.Binning:
    """A signed-η binning (mirrored |η| bins, clamped beyond) of per-|η|-bin contents."""
    content = list(reversed(values)) + list(values)
    return cs.Binning(
        nodetype="binning", input="JetEta", edges=_signed_edges(), content=content, flow="clamp"
    )


def _formula(expression: str, variables: list[str], parameters: list[float]) -> cs.Formula:
    return cs.Formula(
        nodetype="formula",
        expression=expression,
        parser="TFormula",
        variables=variables,
        parameters=parameters,
    )


def _corr(name: str, description: str, inputs: list[cs.Variable], data) -> cs.Correction:
    return correction(name, description, inputs, data, _var("correction", "real", "factor"))


def _jec_levels(prefix: str, algo: str, residual: float) -> tuple[list, cs.CompoundCorrection]:
    l1 = _corr(
        f"{prefix}_L1FastJet_{algo}",
        "L1FastJet: removes the toy pile-up offset.",
        [JET_A, JET_ETA, JET_PT, RHO],
        _formula("max(0.0001,1-[0]*x*z/y)", ["JetA", "JetPt", "Rho"], [JET_PU_OFFSET]),
    )
    l2 = _corr(
        f"{prefix}_L2Relative_{algo}",
        "L2Relative: inverse toy response per |eta| bin.",
        [JET_ETA, JET_PT],
        _by_eta([round(1.0 / r, 10) for r in JET_RESPONSE]),
    )
    l3 = _corr(f"{prefix}_L3Absolute_{algo}", "L3Absolute.", [JET_ETA, JET_PT], 1.0)
    res = _corr(f"{prefix}_L2L3Residual_{algo}", "L2L3Residual.", [JET_ETA, JET_PT], residual)
    stack = [c.name for c in (l1, l2, l3, res)]
    compound = cs.CompoundCorrection(
        name=f"{prefix}_L1L2L3Res_{algo}",
        description=f"L1FastJet x L2Relative x L3Absolute x L2L3Residual. {ILLUSTRATIVE}",
        inputs=[JET_A, JET_ETA, JET_PT, RHO],
        output=_var("correction", "real", "factor"),
        inputs_update=["JetPt"],
        input_op="*",
        output_op="*",
        stack=stack,
    )
    return [l1, l2, l3, res], compound


def build_jerc(cfg: AnalysisConfig) -> cs.CorrectionSet:
    """JEC (simulation and every data period), JES sources and JER of ``cfg``'s era."""
    jets = cfg.era_config.jets
    algo = jets.algorithm
    corrs, compounds = [], []
    prefixes = [(f"{jets.jec_mc}_MC", 1.0)] if jets.jec_mc else []
    prefixes += [(f"{tag}_DATA", 1.0 + 0.001 * (k + 1)) for k, tag in enumerate(jets.jec_data)]
    for prefix, residual in prefixes:
        levels, compound = _jec_levels(prefix, algo, residual)
        corrs += levels
        compounds.append(compound)
    if jets.jec_mc:
        for source in dict.fromkeys([*JES_SOURCES, *jets.jes_sources]):
            a, b = JES_SOURCES.get(source, JES_SOURCES["Total"])
            corrs.append(
                _corr(
                    f"{jets.jec_mc}_MC_{source}_{algo}",
                    f"JES uncertainty source {source}: a + b/pT.",
                    [JET_ETA, JET_PT],
                    _by_eta([_formula("[0]+[1]/x", ["JetPt"], [ak, b]) for ak in a]),
                )
            )
    if jets.jer:
        a, c = JET_RESOLUTION
        corrs.append(
            _corr(
                f"{jets.jer}_MC_PtResolution_{algo}",
                "JER: the toy's relative pT resolution sqrt(a/pT + c^2).",
                [JET_ETA, JET_PT, RHO],
                _by_eta([_formula("sqrt([0]/x+[1]*[1])", ["JetPt"], [a, c])] * len(JER_SF)),
            )
        )
        sf_inputs = [JET_ETA, SYST] if cfg.era_config.run == 2 else [JET_ETA, JET_PT, SYST]
        corrs.append(
            _corr(
                f"{jets.jer}_MC_ScaleFactor_{algo}",
                "JER scale factor.",
                sf_inputs,
                _by_eta(
                    [
                        cs.Category(
                            nodetype="category",
                            input="systematic",
                            content=[
                                cs.CategoryItem(key=k, value=round(n + s * u, 6))
                                for k, s in (("nom", 0), ("up", 1), ("down", -1))
                            ],
                        )
                        for n, u in JER_SF
                    ]
                ),
            )
        )
    return cs.CorrectionSet(
        schema_version=2,
        description=f"JME-style jet energy corrections and resolution. {ILLUSTRATIVE}",
        corrections=corrs,
        compound_corrections=compounds,
    )


def build_jetvetomap(cfg: AnalysisConfig) -> cs.CorrectionSet | None:
    """The era's jet veto map (a hot and a cold cell; 0 elsewhere), or None without one."""
    veto = cfg.era_config.jets.veto_map
    if veto.name is None:
        return None
    n_phi = len(VETO_PHI_EDGES) - 1
    values = [0.0] * ((len(VETO_ETA_EDGES) - 1) * n_phi)
    for i_eta, i_phi in VETO_CELLS:
        values[i_eta * n_phi + i_phi] = 100.0
    grid = cs.MultiBinning(
        nodetype="multibinning",
        inputs=["eta", "phi"],
        edges=[list(VETO_ETA_EDGES), list(VETO_PHI_EDGES)],
        content=values,
        flow="error",
    )
    corr = cs.Correction(
        name=veto.name,
        description=f"Jet veto map (non-zero: vetoed). {ILLUSTRATIVE}",
        version=1,
        inputs=[
            _var("type", "string", "type of veto map (jetvetomap: the one for analyses)"),
            _var("eta", "real", "jet eta"),
            _var("phi", "real", "jet phi"),
        ],
        output=_var("vetomap", "real", "non-zero: the region is vetoed"),
        data=cs.Category(
            nodetype="category", input="type", content=[cs.CategoryItem(key=veto.type, value=grid)]
        ),
    )
    return cs.CorrectionSet(
        schema_version=2, description=f"JME-style jet veto maps. {ILLUSTRATIVE}", corrections=[corr]
    )
