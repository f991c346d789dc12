"""b-tagging efficiency maps of simulated jets for the fixed-WP b-tag scale factors.

``hnl-coffea btag-efficiency FILESET --outdir DIR`` runs
:class:`processors.BtagEfficiencyProcessor` over the simulated datasets: for every jet the
analysis selects (ID, kinematics, lepton cleaning, corrected pT), it fills
:func:`book_efficiency` by era, working point, hadron flavour, pT and |η|, weighted by
``genWeight``, tagged or not; :func:`efficiency_set` turns each era into a correctionlib
file ``DIR/<era>.json.gz`` with the correction ``btag_efficiency`` (inputs
``working_point`` L/M/T, ``flavor`` 0/4/5, ``abseta``, ``pt``; clamped beyond the edges),
which ``eras.<era>.btag_efficiency`` then points to.

A bin with fewer than :data:`MIN_JETS` effective simulated jets ((Σw)²/Σw²; or Σw ≤ 0)
takes the efficiency of its pT bin over all |η|, else of its flavour over all bins, else
:data:`DEFAULT_EFFICIENCY`; the file's description counts them.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import hist
import numpy as np
from correctionlib import schemav2 as cs

from ..config import AnalysisConfig

__all__ = [
    "ABSETA_EDGES",
    "DEFAULT_EFFICIENCY",
    "PT_EDGES",
    "book_efficiency",
    "efficiency_set",
    "fill_efficiency",
    "write_efficiency",
]

PT_EDGES = (20.0, 30.0, 50.0, 70.0, 100.0, 140.0, 200.0, 300.0, 600.0, 1000.0)
ABSETA_EDGES = (0.0, 0.8, 1.6, 2.5)
FLAVOURS = (0, 4, 5)
WORKING_POINTS = ("loose", "medium", "tight")
#: Fewest effective jets for a bin's own efficiency.
MIN_JETS = 10
#: Used only where a flavour has no simulated jet at all.
DEFAULT_EFFICIENCY = {5: 0.7, 4: 0.15, 0: 0.01}


def book_efficiency() -> hist.Hist:
    """Σw of selected simulated jets by era, working point, flavour, pT, |η| and tag."""
    return hist.Hist(
        hist.axis.StrCategory([], name="era", growth=True),
        hist.axis.StrCategory(list(WORKING_POINTS), name="wp"),
        hist.axis.IntCategory(list(FLAVOURS), name="flavour"),
        hist.axis.Variable(PT_EDGES, name="pt"),
        hist.axis.Variable(ABSETA_EDGES, name="abseta"),
        hist.axis.Boolean(name="tagged"),
        storage=hist.storage.Weight(),
    )


def fill_efficiency(h: hist.Hist, cfg: AnalysisConfig, pt, eta, flavour, score, weight) -> None:
    """Fill the flat selected jets of one chunk of ``cfg``'s era (pT beyond the last edge
    goes to the last bin, as the correction clamps it)."""
    pt = np.clip(np.asarray(pt, dtype=np.float64), PT_EDGES[0], np.nextafter(PT_EDGES[-1], 0))
    abseta = np.clip(
        np.abs(np.asarray(eta, dtype=np.float64)), 0.0, np.nextafter(ABSETA_EDGES[-1], 0)
    )
    flavour = np.abs(np.asarray(flavour, dtype=np.int64))
    flavour = np.where(np.isin(flavour, (4, 5)), flavour, 0)
    inside = np.asarray(pt) >= PT_EDGES[0]
    for wp in WORKING_POINTS:
        tagged = np.asarray(score) > cfg.era_config.btag_wp[wp]
        h.fill(
            era=cfg.era, wp=wp, flavour=flavour[inside], pt=pt[inside],
            abseta=abseta[inside], tagged=tagged[inside], weight=np.asarray(weight)[inside],
        )  # fmt: skip


def _ratio(tagged: np.ndarray, total: np.ndarray, sumw2: np.ndarray) -> np.ndarray:
    """tagged / total where the bin has at least MIN_JETS effective jets, else NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        n_eff = np.where(sumw2 > 0, total**2 / np.where(sumw2 > 0, sumw2, 1.0), 0.0)
        ok = (total > 0) & (n_eff >= MIN_JETS)
        return np.where(ok, tagged / np.where(ok, total, 1.0), np.nan)


def _efficiencies(h: hist.Hist, era: str, wp: str, flavour: int) -> tuple[np.ndarray, int]:
    """(pt × |η|) efficiencies of one flavour and the number of bins that fell back."""
    cell = h[{"era": era, "wp": wp, "flavour": hist.loc(flavour)}]
    view, var = cell.values(), cell.variances()
    tagged, total, w2 = view[..., 1], view[..., 0] + view[..., 1], var[..., 0] + var[..., 1]
    eff = _ratio(tagged, total, w2)
    per_pt = _ratio(tagged.sum(axis=1), total.sum(axis=1), w2.sum(axis=1))
    overall = _ratio(np.array([tagged.sum()]), np.array([total.sum()]), np.array([w2.sum()]))[0]
    fallback = np.isnan(eff)
    eff = np.where(np.isnan(eff), per_pt[:, None], eff)
    eff = np.where(np.isnan(eff), overall, eff)
    eff = np.where(np.isnan(eff), DEFAULT_EFFICIENCY[flavour], eff)
    return np.clip(eff, 0.0, 1.0), int(fallback.sum())


def efficiency_set(h: hist.Hist, era: str) -> cs.CorrectionSet:
    """The correctionlib efficiency map of one era of a filled :func:`book_efficiency`."""
    if era not in list(h.axes["era"]):
        raise ValueError(f"no simulated jets of era {era!r} in the efficiency histogram")
    n_fallback = 0
    by_wp = []
    for wp in WORKING_POINTS:
        by_flavour = []
        for flavour in FLAVOURS:
            eff, n = _efficiencies(h, era, wp, flavour)
            n_fallback += n
            grid = cs.MultiBinning(
                nodetype="multibinning",
                inputs=["abseta", "pt"],
                edges=[list(ABSETA_EDGES), list(PT_EDGES)],
                content=[round(float(v), 6) for v in eff.T.ravel()],
                flow="clamp",
            )
            by_flavour.append(cs.CategoryItem(key=flavour, value=grid))
        value = cs.Category(nodetype="category", input="flavor", content=by_flavour)
        by_wp.append(cs.CategoryItem(key=wp[0].upper(), value=value))
    corr = cs.Correction(
        name="btag_efficiency",
        description=(
            f"b-tagging efficiency of selected simulated jets, era {era}, written by hnl-coffea "
            f"btag-efficiency; {n_fallback} empty bin(s) took the efficiency of their pT bin, "
            "flavour or the default"
        ),
        version=1,
        inputs=[
            cs.Variable(name="working_point", type="string", description="L, M, T"),
            cs.Variable(name="flavor", type="int", description="hadron flavour 0, 4, 5"),
            cs.Variable(name="abseta", type="real", description="jet |eta|"),
            cs.Variable(name="pt", type="real", description="jet pT [GeV]"),
        ],
        output=cs.Variable(name="efficiency", type="real", description="tagging efficiency"),
        data=cs.Category(nodetype="category", input="working_point", content=by_wp),
    )
    return cs.CorrectionSet(schema_version=2, description=corr.description, corrections=[corr])


def write_efficiency(h: hist.Hist, outdir: str | Path) -> list[Path]:
    """One ``<era>.json.gz`` per era of ``h`` in ``outdir`` (gzipped reproducibly)."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for era in h.axes["era"]:
        text = efficiency_set(h, era).model_dump_json(exclude_unset=True) + "\n"
        path = out / f"{era}.json.gz"
        path.write_bytes(gzip.compress(text.encode(), compresslevel=9, mtime=0))
        paths.append(path)
    return paths
