"""Write the small, ILLUSTRATIVE correction files shipped in ``data/corrections/POG/``.

The numbers below are made up for demonstrations and tests. They are NOT CMS measurements.
The files are laid out like the jsonpog-integration ``POG/`` tree
(``TAU/<tag>/tau.json.gz``, ``MUO/<tag>/muon_Z.json.gz``, ...), one folder per era's
``pog_tag``, with the correction names, input names and input types that each era's
configuration asks for — so pointing ``corrections.pog_root`` at the official tree (on
/cvmfs, the default where it is mounted) swaps them for the real ones unchanged.

Regenerate with ``python -m hnl_coffea.corrections.make_illustrative [OUTDIR]``.
"""

from __future__ import annotations

import gzip
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from correctionlib import schemav2 as cs

from ..config import DEEPTAU_WPS, ILLUSTRATIVE_POG_ROOT, AnalysisConfig, load_config
from ..paths import data_path
from ._schema import ILLUSTRATIVE, correction, variable
from .make_illustrative_jme import build_jerc, build_jetvetomap
from .names import correction_constants, correction_name

__all__ = ["build_all", "write_all", "main", "ILLUSTRATIVE"]

INF = "inf"
SYSTS_TAU = ("nom", "up", "down")
DEEPTAU_VERSIONS = ("2017v2p1", "2018v2p5")

# --------------------------------------------------------------------------- tables
#: τh ID vs jet, ``flag="dm"``: (nominal, uncertainty) per (wp, wp_VSe) and decay mode.
#: For ``wp_VSe="Tight"`` the nominal is lowered by ``VSJET_TIGHT_VSE_SHIFT``.
TAU_VSJET_DM = {
    "Loose": {
        0: (0.97, 0.03),
        1: (0.99, 0.03),
        2: (0.96, 0.04),
        10: (0.95, 0.04),
        11: (0.93, 0.05),
    },
    "Medium": {
        0: (0.95, 0.03),
        1: (0.97, 0.025),
        2: (0.94, 0.04),
        10: (0.94, 0.035),
        11: (0.92, 0.05),
    },
    "Tight": {
        0: (0.93, 0.03),
        1: (0.95, 0.03),
        2: (0.92, 0.04),
        10: (0.92, 0.04),
        11: (0.90, 0.05),
    },
    "VTight": {
        0: (0.91, 0.04),
        1: (0.93, 0.03),
        2: (0.90, 0.05),
        10: (0.90, 0.04),
        11: (0.88, 0.06),
    },
}
VSJET_TIGHT_VSE_SHIFT = 0.01
#: τh ID vs jet, ``flag="pt"``: pT edges and (nominal, uncertainty) per wp and pT bin.
TAU_VSJET_PT_EDGES = (20.0, 25.0, 30.0, 35.0, 40.0, INF)
TAU_VSJET_PT = {
    wp: [(round(v[0][0] - 0.01 * i, 4), 0.04) for i in range(5)] for wp, v in TAU_VSJET_DM.items()
}
TAU_GENMATCHES = (0, 1, 2, 3, 4, 5, 6)
TAU_DMS = (0, 1, 2, 10, 11)

#: τh ID vs e for genuine e→τh (genmatch 1, 3): signed-η edges, (nominal, unc) barrel/endcap.
TAU_VSE_ETA_EDGES = (-2.5, -1.5, 1.5, 2.5)
TAU_VSE = {
    "VVVLoose": ((1.00, 0.05), (0.98, 0.06)),
    "VVLoose": ((0.98, 0.06), (0.96, 0.08)),
    "VLoose": ((0.96, 0.07), (0.94, 0.09)),
    "Loose": ((0.94, 0.08), (0.92, 0.10)),
    "Medium": ((0.92, 0.09), (0.90, 0.12)),
    "Tight": ((0.90, 0.10), (0.88, 0.14)),
    "VTight": ((0.88, 0.12), (0.86, 0.16)),
    "VVTight": ((0.86, 0.14), (0.84, 0.18)),
}
#: τh ID vs μ for genuine μ→τh (genmatch 2, 4): |η| edges, (nominal, unc) per |η| bin.
TAU_VSMU_ABSETA_EDGES = (0.0, 0.4, 0.8, 1.2, 1.7, 2.5)
TAU_VSMU = {
    "VLoose": [(1.00, 0.05), (1.01, 0.05), (0.99, 0.06), (1.02, 0.07), (1.05, 0.10)],
    "Loose": [(1.01, 0.05), (1.02, 0.06), (0.99, 0.06), (1.03, 0.08), (1.07, 0.12)],
    "Medium": [(1.02, 0.06), (1.03, 0.06), (1.00, 0.07), (1.04, 0.09), (1.10, 0.14)],
    "Tight": [(1.03, 0.06), (1.04, 0.07), (1.01, 0.08), (1.06, 0.10), (1.15, 0.16)],
}
#: τh energy scale for genuine τh per decay mode: (nominal scale, its uncertainty δ); the
#: up/down scales are nominal ± δ (full scales, as in the TAU POG files).
TAU_ES = {
    0: (0.990, 0.008),
    1: (1.004, 0.009),
    2: (1.000, 0.010),
    10: (0.995, 0.011),
    11: (1.002, 0.012),
}
#: τh trigger leg (TAU ``tau_trigger`` layout: trigtype, corrtype, wp, dm, pt, syst): pT edges,
#: per decay mode (−1: inclusive) the SF per pT bin, its uncertainty, the MC efficiency.
TAU_TRIGGER_PT_EDGES = (40.0, 45.0, 50.0, 60.0, 80.0, 120.0, INF)
TAU_TRIGGER_SF = {
    -1: (0.87, 0.91, 0.93, 0.94, 0.95, 0.96),
    0: (0.86, 0.90, 0.92, 0.93, 0.94, 0.95),
    1: (0.88, 0.92, 0.94, 0.95, 0.96, 0.96),
    10: (0.84, 0.89, 0.92, 0.94, 0.95, 0.96),
    11: (0.84, 0.89, 0.92, 0.94, 0.95, 0.96),
}
TAU_TRIGGER_UNC = (0.04, 0.03, 0.03, 0.025, 0.025, 0.03)
TAU_TRIGGER_EFF_MC = (0.55, 0.68, 0.78, 0.86, 0.90, 0.92)
TAU_TRIGGER_TYPES = ("ditau", "etau", "mutau")

#: Muon ID/isolation: |η| and pT edges, nominal per [|η| bin][pT bin], one uncertainty.
MUON_ABSETA_EDGES = (0.0, 0.9, 1.2, 2.1, 2.4)
MUON_PT_EDGES = (10.0, 15.0, 20.0, 30.0, 50.0, INF)
#: (nominal, uncertainty) of the ID SF per muon ID.
MUON_ID_SF = {
    "looseId": (0.998, 0.003),
    "mediumId": (0.99, 0.004),
    "mediumPromptId": (0.988, 0.004),
    "tightId": (0.985, 0.005),
}
#: (nominal, uncertainty) of the isolation SF per (tight isolation, tight-ID denominator).
MUON_ISO_SF = {
    (True, False): (0.995, 0.002),
    (True, True): (0.996, 0.002),
    (False, False): (0.998, 0.002),
    (False, True): (0.998, 0.002),
}
#: Per-bin offsets added to the nominal: rows |η| bins, columns pT bins.
MUON_OFFSETS = (
    (-0.010, -0.005, 0.000, 0.002, 0.003),
    (-0.012, -0.006, -0.001, 0.001, 0.002),
    (-0.015, -0.008, -0.002, 0.000, 0.001),
    (-0.030, -0.020, -0.010, -0.005, -0.004),
)
#: Single-muon trigger (in the muon file), same layout as muon ID; pT from the offline
#: threshold of IsoMu24 (26 GeV) on, as in the MUO files.
MUON_TRIGGER_PT_EDGES = (26.0, 30.0, 40.0, 60.0, 120.0, INF)
MUON_TRIGGER_SF = (
    (0.96, 0.975, 0.985, 0.99, 0.99),
    (0.95, 0.965, 0.975, 0.98, 0.98),
    (0.94, 0.955, 0.970, 0.975, 0.975),
    (0.88, 0.910, 0.930, 0.940, 0.94),
)
MUON_TRIGGER_UNC = 0.01

#: Electron ID (EGM ``UL-Electron-ID-SF`` layout): signed-η and pT edges.
ELECTRON_ETA_EDGES = (-2.5, -2.0, -1.566, -1.444, -0.8, 0.0, 0.8, 1.444, 1.566, 2.0, 2.5)
ELECTRON_PT_EDGES = (10.0, 20.0, 35.0, 50.0, 100.0, INF)
#: Nominal per |η| region (0-0.8, 0.8-1.444, gap, 1.566-2.0, 2.0-2.5) and pT bin.
ELECTRON_ID_BY_ABSETA = {
    "wp90iso": (
        (0.96, 0.97, 0.98, 0.985, 0.99),
        (0.95, 0.965, 0.975, 0.98, 0.985),
        (1.00, 1.00, 1.00, 1.00, 1.00),
        (0.93, 0.955, 0.97, 0.975, 0.98),
        (0.92, 0.95, 0.965, 0.97, 0.975),
    ),
}
ELECTRON_ID_BY_ABSETA["wp80iso"] = tuple(
    tuple(round(v - 0.02, 4) for v in row) for row in ELECTRON_ID_BY_ABSETA["wp90iso"]
)
ELECTRON_ID_BY_ABSETA["wp90noiso"] = tuple(
    tuple(round(v + 0.005, 4) for v in row) for row in ELECTRON_ID_BY_ABSETA["wp90iso"]
)
ELECTRON_ID_UNC = 0.02
#: Single-electron trigger (``Electron-HLT-SF`` layout), nominal per |η| region and pT bin.
ELECTRON_TRIGGER_PT_EDGES = (10.0, 34.0, 40.0, 50.0, 100.0, INF)
ELECTRON_TRIGGER_SF = (
    (0.85, 0.96, 0.97, 0.98, 0.98),
    (0.83, 0.95, 0.96, 0.97, 0.975),
    (1.00, 1.00, 1.00, 1.00, 1.00),
    (0.80, 0.93, 0.95, 0.96, 0.965),
    (0.78, 0.92, 0.94, 0.95, 0.96),
)
ELECTRON_TRIGGER_UNC = 0.015

#: Pile-up weights: edges in true interactions and weights (nominal, up, down).
PILEUP_EDGES = tuple(float(x) for x in range(0, 105, 5))
PILEUP_NOMINAL = (0.35, 0.62, 0.88, 1.05, 1.12, 1.10, 1.04, 0.97, 0.90, 0.82,
                  0.72, 0.60, 0.48, 0.36, 0.26, 0.18, 0.12, 0.08, 0.05, 0.03)  # fmt: skip
PILEUP_UP = tuple(round(w * (1 + 0.004 * (i - 7)), 4) for i, w in enumerate(PILEUP_NOMINAL))
PILEUP_DOWN = tuple(round(w * (1 - 0.004 * (i - 7)), 4) for i, w in enumerate(PILEUP_NOMINAL))
#: b-tag fixed-WP SFs (BTV ``deepJet_comb`` layout): per WP and flavour, (nominal, unc).
BTAG_ABSETA_EDGES = (0.0, 2.5)
BTAG_PT_EDGES = (20.0, 30.0, 50.0, 100.0, INF)
BTAG_SF = {
    "L": {5: (0.97, 0.02), 4: (0.97, 0.04), 0: (1.10, 0.08)},
    "M": {5: (0.95, 0.02), 4: (0.95, 0.05), 0: (1.15, 0.10)},
    "T": {5: (0.92, 0.03), 4: (0.92, 0.06), 0: (1.25, 0.15)},
}


# --------------------------------------------------------------------------- helpers
_var = variable


def _cat(input_: str, items: dict, default: float | None = None) -> cs.Category:
    content = [cs.CategoryItem(key=k, value=v) for k, v in items.items()]
    return cs.Category(nodetype="category", input=input_, content=content, default=default)


def _bin(input_: str, edges: Sequence, content: list) -> cs.Binning:
    return cs.Binning(
        nodetype="binning", input=input_, edges=list(edges), content=content, flow="error"
    )


def _multibin(inputs: list[str], edges: list[Sequence], content: list[float]) -> cs.MultiBinning:
    return cs.MultiBinning(
        nodetype="multibinning",
        inputs=inputs,
        edges=[list(e) for e in edges],
        content=content,
        flow="error",
    )


def _nud(input_: str, names: Sequence[str], nom: float, unc: float) -> cs.Category:
    """Category over the variation input: nominal, nominal + unc, nominal - unc."""
    vals = (nom, nom + unc, nom - unc)
    return _cat(input_, {n: round(v, 6) for n, v in zip(names, vals)})


def _corr(name: str, description: str, inputs: list[cs.Variable], data) -> cs.Correction:
    return correction(name, description, inputs, data, _var("sf", "real", "scale factor"))


def _cset(description: str, corrections: list[cs.Correction]) -> cs.CorrectionSet:
    return cs.CorrectionSet(
        schema_version=2, description=f"{description} {ILLUSTRATIVE}", corrections=corrections
    )


def _abseta_region(lo: float) -> int:
    """Region index of the ELECTRON_* tables for an |η| bin starting at ``lo``."""
    return {0.0: 0, 0.8: 1, 1.444: 2, 1.566: 3, 2.0: 4}[abs(lo)]


def _eta_pt_table(table: Sequence[Sequence[float]], unc: float, sign: int) -> list[float]:
    """Flatten a per-|η|-region table onto the signed-η × pT MultiBinning (row-major)."""
    out = []
    for lo, hi in zip(ELECTRON_ETA_EDGES[:-1], ELECTRON_ETA_EDGES[1:]):
        region = _abseta_region(min(abs(lo), abs(hi)))
        out += [round(v + sign * unc, 6) for v in table[region]]
    return out


# --------------------------------------------------------------------------- tau
def _tau_ids(version: str) -> list[cs.Correction]:
    """τh ID scale factors vs jet, e and μ for one DeepTau version, with the TAU POG names."""
    pt = _var("pt", "real", "tau pT [GeV]")
    eta = _var("eta", "real", "tau eta")
    dm = _var("dm", "int", "tau decay mode (0, 1, 2, 10, 11)")
    gm = _var(
        "genmatch", "int", "genPartFlav: 0/6 jet, 1 e, 2 mu, 3 e from tau, 4 mu from tau, 5 tau_h"
    )
    wp = _var("wp", "string", "DeepTau working point")
    syst = _var("syst", "string", "nom, up, down")

    def vsjet_wp(wpname: str):
        def by_vse(shift: float):
            by_dm = {
                d: _nud("syst", SYSTS_TAU, round(n - shift, 6), u)
                for d, (n, u) in TAU_VSJET_DM[wpname].items()
            }
            by_pt = _bin(
                "pt",
                TAU_VSJET_PT_EDGES,
                [_nud("syst", SYSTS_TAU, round(n - shift, 6), u) for n, u in TAU_VSJET_PT[wpname]],
            )
            return _cat("flag", {"dm": _cat("dm", by_dm), "pt": by_pt})

        return _cat("wp_VSe", {"VVLoose": by_vse(0.0), "Tight": by_vse(VSJET_TIGHT_VSE_SHIFT)})

    genuine = _cat("wp", {w: vsjet_wp(w) for w in TAU_VSJET_DM})
    vsjet = _corr(
        f"DeepTau{version}VSjet",
        f"DeepTau {version} vs jet SF for genuine tau_h (genmatch 5), by decay mode or pT.",
        [
            pt,
            dm,
            gm,
            wp,
            _var("wp_VSe", "string", "VSe WP"),
            syst,
            _var("flag", "string", "dm or pt"),
        ],
        _cat("genmatch", {g: (genuine if g == 5 else 1.0) for g in TAU_GENMATCHES}),
    )

    def vse_wp(barrel: tuple, endcap: tuple):
        bins = [_nud("syst", SYSTS_TAU, *endcap), _nud("syst", SYSTS_TAU, *barrel)]
        bins.append(_nud("syst", SYSTS_TAU, *endcap))
        return _bin("eta", TAU_VSE_ETA_EDGES, bins)

    vse_data = _cat("wp", {w: vse_wp(*v) for w, v in TAU_VSE.items()})
    vse = _corr(
        f"DeepTau{version}VSe",
        f"DeepTau {version} vs e SF for e->tau_h fakes (genmatch 1, 3); dm is not used here.",
        [eta, dm, gm, wp, syst],
        _cat(
            "genmatch",
            {g: (vse_data if g in (1, 3) else 1.0) for g in TAU_GENMATCHES},
        ),
    )

    def vsmu_wp(rows: list):
        absedges = TAU_VSMU_ABSETA_EDGES
        edges = [-e for e in reversed(absedges[1:])] + list(absedges)
        content = [_nud("syst", SYSTS_TAU, *r) for r in reversed(rows)]
        content += [_nud("syst", SYSTS_TAU, *r) for r in rows]
        return _bin("eta", edges, content)

    vsmu = _corr(
        f"DeepTau{version}VSmu",
        f"DeepTau {version} vs mu SF for mu->tau_h fakes (genmatch 2, 4).",
        [eta, gm, wp, syst],
        _cat(
            "genmatch",
            {
                g: (
                    _cat("wp", {w: vsmu_wp(r) for w, r in TAU_VSMU.items()}) if g in (2, 4) else 1.0
                )
                for g in TAU_GENMATCHES
            },
        ),
    )
    return [vsjet, vse, vsmu]


def build_tau() -> cs.CorrectionSet:
    """τh ID (vs jet, e, μ) for both DeepTau versions and the τh energy scale."""
    pt = _var("pt", "real", "tau pT [GeV]")
    eta = _var("eta", "real", "tau eta")
    dm = _var("dm", "int", "tau decay mode (0, 1, 2, 10, 11)")
    gm = _var(
        "genmatch", "int", "genPartFlav: 0/6 jet, 1 e, 2 mu, 3 e from tau, 4 mu from tau, 5 tau_h"
    )
    syst = _var("syst", "string", "nom, up, down")
    by_dm = _cat("dm", {d: _nud("syst", SYSTS_TAU, n, dl) for d, (n, dl) in TAU_ES.items()})
    tes_genuine = _cat("id", {f"DeepTau{v}": by_dm for v in DEEPTAU_VERSIONS})
    tes = _corr(
        "tau_energy_scale",
        "Tau energy scale for genuine tau_h (genmatch 5) per decay mode: nominal, up/down nominal +- delta.",
        [pt, eta, dm, gm, _var("id", "string", "tau ID algorithm"), syst],
        _cat("genmatch", {g: (tes_genuine if g == 5 else 1.0) for g in TAU_GENMATCHES}),
    )
    ids = [c for v in DEEPTAU_VERSIONS for c in _tau_ids(v)]
    return _cset("Tau POG-style corrections.", [*ids, tes, _tau_trigger()])


def _tau_trigger() -> cs.Correction:
    """τh trigger-leg SFs and efficiencies (TAU ``tau_trigger`` layout), by decay mode and pT."""

    def values(corrtype: str, dm: int) -> list:
        if corrtype == "sf":
            return [
                _nud("syst", SYSTS_TAU, v, u) for v, u in zip(TAU_TRIGGER_SF[dm], TAU_TRIGGER_UNC)
            ]
        if corrtype == "eff_mc":
            return [_nud("syst", SYSTS_TAU, e, 0.01) for e in TAU_TRIGGER_EFF_MC]
        return [
            _nud("syst", SYSTS_TAU, round(e * v, 4), 0.02)
            for e, v in zip(TAU_TRIGGER_EFF_MC, TAU_TRIGGER_SF[dm])
        ]

    def by_dm(corrtype: str) -> cs.Category:
        return _cat(
            "dm", {d: _bin("pt", TAU_TRIGGER_PT_EDGES, values(corrtype, d)) for d in TAU_TRIGGER_SF}
        )

    data = _cat(
        "trigtype",
        {
            t: _cat("corrtype", {c: _cat("wp", {w: by_dm(c) for w in DEEPTAU_WPS})
                                 for c in ("sf", "eff_data", "eff_mc")})
            for t in TAU_TRIGGER_TYPES
        },
    )  # fmt: skip
    return _corr(
        "tau_trigger",
        "Tau trigger-leg SFs and efficiencies (ditau, etau, mutau) by decay mode (-1: "
        "inclusive) and pT.",
        [
            _var("pt", "real", "tau pT [GeV]"),
            _var("dm", "int", "tau decay mode (0, 1, 10, 11, or -1)"),
            _var("trigtype", "string", "ditau, etau, mutau"),
            _var("wp", "string", "DeepTau VSjet working point"),
            _var("corrtype", "string", "eff_data, eff_mc, sf"),
            _var("syst", "string", "nom, up, down"),
        ],
        data,
    )


# --------------------------------------------------------------------------- muon
def _muon_sf(name: str, nominal: float, unc: float) -> cs.Correction:
    def table(sign: int) -> list[float]:
        return [round(nominal + off + sign * unc, 6) for row in MUON_OFFSETS for off in row]

    data = _cat(
        "scale_factors",
        {
            k: _multibin(["abseta", "pt"], [MUON_ABSETA_EDGES, MUON_PT_EDGES], table(s))
            for k, s in (("nominal", 0), ("systup", 1), ("systdown", -1))
        },
    )
    return _corr(
        name,
        "Muon SF by |eta| and pT.",
        [
            _var("abseta", "real", "muon |eta|"),
            _var("pt", "real", "muon pT [GeV]"),
            _var("scale_factors", "string", "nominal, systup, systdown"),
        ],
        data,
    )


def _muon_trigger(name: str) -> cs.Correction:
    return _corr(
        name,
        "Single-muon trigger SF by |eta| and pT.",
        [
            _var("abseta", "real", "muon |eta|"),
            _var("pt", "real", "muon pT [GeV]"),
            _var("scale_factors", "string", "nominal, systup, systdown"),
        ],
        _cat(
            "scale_factors",
            {
                k: _multibin(
                    ["abseta", "pt"],
                    [MUON_ABSETA_EDGES, MUON_TRIGGER_PT_EDGES],
                    [round(v + s * MUON_TRIGGER_UNC, 6) for row in MUON_TRIGGER_SF for v in row],
                )
                for k, s in (("nominal", 0), ("systup", 1), ("systdown", -1))
            },
        ),
    )


def build_muon(cfg: AnalysisConfig) -> cs.CorrectionSet:
    """Muon ID, isolation and single-muon trigger SFs under the names of ``cfg``'s era, for
    every muon ID and isolation working point the configuration allows."""
    corrs: dict[str, cs.Correction] = {}
    for mu_id, nominal in MUON_ID_SF.items():
        for iso_max in (0.15, 0.25):
            muon = cfg.objects.muon.model_copy(update={"id": mu_id, "rel_iso_max": iso_max})
            variant = cfg.model_copy(
                update={"objects": cfg.objects.model_copy(update={"muon": muon})}
            )
            id_name = correction_name(variant, "muon_id")
            corrs.setdefault(id_name, _muon_sf(id_name, *nominal))
            iso_name = correction_name(variant, "muon_iso")
            iso = MUON_ISO_SF[(iso_max <= 0.15, mu_id == "tightId")]
            corrs.setdefault(iso_name, _muon_sf(iso_name, *iso))
    trigger = correction_name(cfg, "trigger_mu")
    corrs[trigger] = _muon_trigger(trigger)
    return _cset("Muon POG-style ID/isolation/trigger SFs.", list(corrs.values()))


# --------------------------------------------------------------------------- electron
def _egm_inputs(extra: cs.Variable) -> list[cs.Variable]:
    return [
        _var("year", "string", "era name"),
        _var("ValType", "string", "sf, sfup, sfdown"),
        extra,
        _var("eta", "real", "supercluster eta"),
        _var("pt", "real", "electron pT [GeV]"),
    ]


def _egm_data(year: str, extra: str, tables: dict, pt_edges: Sequence, unc: float) -> cs.Category:
    def by_valtype():
        return _cat(
            "ValType",
            {
                vt: _cat(
                    extra,
                    {
                        key: _multibin(
                            ["eta", "pt"], [ELECTRON_ETA_EDGES, pt_edges], _eta_pt_table(t, unc, s)
                        )
                        for key, t in tables.items()
                    },
                )
                for vt, s in (("sf", 0), ("sfup", 1), ("sfdown", -1))
            },
        )

    return _cat("year", {year: by_valtype()})


def build_electron(cfg: AnalysisConfig) -> cs.CorrectionSet:
    """Electron MVA ID SFs in the EGM layout, under the name and year of ``cfg``'s era."""
    year = correction_constants(cfg, "electron_id")["year"]
    corr = _corr(
        correction_name(cfg, "electron_id"),
        "Electron MVA ID SF by eta and pT.",
        _egm_inputs(_var("WorkingPoint", "string", "wp80iso, wp90iso, wp90noiso")),
        _egm_data(year, "WorkingPoint", ELECTRON_ID_BY_ABSETA, ELECTRON_PT_EDGES, ELECTRON_ID_UNC),
    )
    return _cset("EGM-style electron ID SFs.", [corr])


def build_electron_trigger(cfg: AnalysisConfig) -> cs.CorrectionSet:
    """Single-electron trigger SFs (``Electron-HLT-SF`` layout) of ``cfg``'s era."""
    const = correction_constants(cfg, "trigger_e")
    corr = _corr(
        correction_name(cfg, "trigger_e"),
        "Single-electron trigger SF by eta and pT.",
        _egm_inputs(_var("Path", "string", "trigger SF name")),
        _egm_data(
            const["year"],
            "Path",
            {const["Path"]: ELECTRON_TRIGGER_SF},
            ELECTRON_TRIGGER_PT_EDGES,
            ELECTRON_TRIGGER_UNC,
        ),
    )
    return _cset("EGM-style single-electron trigger SFs.", [corr])


# --------------------------------------------------------------------------- pileup, btag
def build_pileup(cfg: AnalysisConfig) -> cs.CorrectionSet:
    """Pile-up weights by true interactions under the LUM POG name of ``cfg``'s era."""
    data = _cat(
        "weights",
        {
            k: _bin("NumTrueInteractions", PILEUP_EDGES, list(v))
            for k, v in (("nominal", PILEUP_NOMINAL), ("up", PILEUP_UP), ("down", PILEUP_DOWN))
        },
    )
    inputs = [
        _var("NumTrueInteractions", "real", "Pileup_nTrueInt"),
        _var("weights", "string", "nominal, up, down"),
    ]
    return _cset(
        "LUM POG-style pile-up weights.",
        [_corr(correction_name(cfg, "pileup"), "Pile-up weight.", inputs, data)],
    )


def build_btag(cfg: AnalysisConfig) -> cs.CorrectionSet:
    """Fixed-WP b-tag SFs in the BTV layout (``<algo>_comb``, ``_incl``, ``_light``) and the
    working-point values of ``cfg``'s era (``<algo>_wp_values``)."""
    algo = cfg.era_config.btag.correction
    inputs = [
        _var("systematic", "string", "central, up, down"),
        _var("working_point", "string", "L, M, T"),
        _var("flavor", "int", "hadron flavour 0, 4, 5"),
        _var("abseta", "real", "jet |eta|"),
        _var("pt", "real", "jet pT [GeV]"),
    ]

    def data():
        return _cat(
            "systematic",
            {
                syst: _cat(
                    "working_point",
                    {
                        wp: _cat(
                            "flavor",
                            {
                                f: _bin("pt", BTAG_PT_EDGES, [round(n + s * u, 6)] * 4)
                                for f, (n, u) in t.items()
                            },
                        )
                        for wp, t in BTAG_SF.items()
                    },
                )
                for syst, s in (("central", 0), ("up", 1), ("down", -1))
            },
        )

    corrs = [
        _corr(f"{algo}_{kind}", "b-tag fixed-WP SF.", inputs, data())
        for kind in ("comb", "incl", "light")
    ]
    wp_values = cs.Correction(
        name=f"{algo}_wp_values",
        description=f"Working-point thresholds of the era's configuration. {ILLUSTRATIVE}",
        version=1,
        inputs=[_var("working_point", "string", "L, M, T")],
        output=_var("wp", "real", "discriminant threshold"),
        data=_cat("working_point", {k[0].upper(): v for k, v in cfg.era_config.btag_wp.items()}),
    )
    return _cset("BTV-style b-tag SFs.", [*corrs, wp_values])


# --------------------------------------------------------------------------- writing
BUILDERS: dict[str, Callable[[AnalysisConfig], cs.CorrectionSet | None]] = {
    "tau": lambda cfg: build_tau(),
    "muon": build_muon,
    "electron": build_electron,
    "electron_trigger": build_electron_trigger,
    "pileup": build_pileup,
    "btag": build_btag,
    "jerc": build_jerc,
    "jetvetomap": build_jetvetomap,
}


def _relative_path(cfg: AnalysisConfig, kind: str) -> str | None:
    era = cfg.era_config
    template = era.pog_files[kind] if kind in era.pog_files else cfg.corrections.files[kind]
    return None if template is None else template.replace("{tag}", era.pog_tag or "")


def build_all(cfg: AnalysisConfig | None = None) -> dict[str, str]:
    """JSON text of every shipped file, by its path below the POG root, for every era of
    ``cfg`` (default: the shipped configuration)."""
    cfg = cfg or load_config()
    out: dict[str, str] = {}
    for era in cfg.eras:
        view = cfg.for_era(era)
        for kind, build in BUILDERS.items():
            rel = _relative_path(view, kind)
            if rel is None or Path(rel).is_absolute():
                continue
            cset = build(view)
            if cset is not None:  # e.g. no veto map for this era
                out[rel] = cset.model_dump_json(exclude_unset=True) + "\n"
    return out


def write_all(outdir: str | Path | None = None) -> list[Path]:
    """Write every illustrative file below ``outdir`` (default: ``data/corrections/POG``),
    gzipped reproducibly (no time stamp) when the name ends in ``.gz``."""
    out = Path(outdir) if outdir is not None else data_path(ILLUSTRATIVE_POG_ROOT)
    written = []
    for rel, text in build_all().items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode()
        if path.suffix == ".gz":
            data = gzip.compress(data, compresslevel=9, mtime=0)
        path.write_bytes(data)
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    for path in write_all(args[0] if args else None):
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
