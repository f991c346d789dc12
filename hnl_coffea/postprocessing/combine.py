"""Inputs for CMS ``combine``: shapes ROOT files (uproot) and datacards.

Per mass hypothesis the export writes, into ``<outdir>/m<mass>/``,

* ``shapes.root`` with one directory per channel holding ``<process>``, ``data_obs`` and
  ``<process>_<systematic>Up/Down`` histograms (``TH1D`` with sum of squared weights);
* ``<channel>.txt``, one datacard per channel, and ``combined.txt`` with all channels.

Cards use ``shapes * <bin> shapes.root $CHANNEL/$PROCESS $CHANNEL/$PROCESS_$SYSTEMATIC``,
rates ``-1`` (taken from the histograms), the signal at process index 0 and backgrounds at
1, 2, ..., an lnN luminosity uncertainty (from the era configuration) on every process, an
lnN normalisation uncertainty per background, every systematic variation found in the
histograms as a ``shape`` nuisance, and ``* autoMCStats 0`` for the template statistics.

``data_obs`` is the observed data only when data exist and are unblinded; otherwise it is the
Asimov data set (the sum of the expected backgrounds), which the card states in a comment.
Negative bins are clipped to zero with a warning; empty backgrounds are left out of a channel.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import hist
import numpy as np
import uproot

from ..config import AnalysisConfig
from .categories import BinnedCategory, clip_negative_bins, nominal, select

__all__ = [
    "CardChannel",
    "card_channel",
    "lumi_nuisance",
    "write_datacards",
    "clip_negative",
    "datacard_text",
    "shape_systematics",
    "validate_names",
    "write_shapes",
]

_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_RULE = "-" * 80


@dataclass
class CardChannel:
    """One datacard bin: processes (axes systematic, variable), signal name and data_obs."""

    name: str
    signal: str
    processes: dict[str, hist.Hist]
    data_obs: hist.Hist
    observed: bool = False


def validate_names(names: Iterable[str], what: str) -> list[str]:
    """Check combine-safe names (letters, digits, ``_.-``; no spaces) and uniqueness."""
    names = list(names)
    for n in names:
        if not _NAME.match(n):
            raise ValueError(f"{what} name {n!r} is not valid for combine (use letters, digits, _)")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"{what} names must be unique; repeated: {', '.join(dup)}")
    return names


def clip_negative(h: hist.Hist, label: str) -> hist.Hist:
    """A copy of ``h`` with negative bin contents set to zero (warns when it changes)."""
    out, n_clipped = clip_negative_bins(h)
    if n_clipped:
        warnings.warn(f"{label}: {n_clipped} negative bin(s) clipped to 0", stacklevel=2)
    return out


def shape_systematics(h: hist.Hist) -> list[str]:
    """Systematic names ``X`` with both ``XUp`` and ``XDown`` on the ``systematic`` axis."""
    cats = set(h.axes["systematic"]) if "systematic" in [a.name for a in h.axes] else set()
    return sorted(c[:-2] for c in cats if c.endswith("Up") and c[:-2] + "Down" in cats)


def _integral(h: hist.Hist) -> float:
    return float(h.values().sum())


def _templates(ch: CardChannel) -> tuple[dict[str, hist.Hist], dict[str, set[str]]]:
    """Clipped templates ``{name: 1D hist}`` of a channel and the shape systs per process."""
    out: dict[str, hist.Hist] = {}
    systs: dict[str, set[str]] = {}
    for proc, h in ch.processes.items():
        out[proc] = clip_negative(nominal(h), f"{ch.name}/{proc}")
        systs[proc] = set()
        for syst in shape_systematics(h):
            up = clip_negative(select(h, systematic=f"{syst}Up"), f"{ch.name}/{proc}_{syst}Up")
            dn = clip_negative(select(h, systematic=f"{syst}Down"), f"{ch.name}/{proc}_{syst}Down")
            if _integral(up) > 0 and _integral(dn) > 0 and _integral(out[proc]) > 0:
                out[f"{proc}_{syst}Up"], out[f"{proc}_{syst}Down"] = up, dn
                systs[proc].add(syst)
    out["data_obs"] = clip_negative(ch.data_obs, f"{ch.name}/data_obs")
    return out, systs


def write_shapes(path: Path, channels: Sequence[CardChannel]) -> dict[str, dict[str, set[str]]]:
    """Write the shapes ROOT file; returns the shape systematics per channel and process."""
    validate_names([c.name for c in channels], "channel")
    systs: dict[str, dict[str, set[str]]] = {}
    with uproot.recreate(path) as f:
        for ch in channels:
            validate_names(list(ch.processes), f"process (channel {ch.name})")
            templates, systs[ch.name] = _templates(ch)
            for name, h in templates.items():
                f[f"{ch.name}/{name}"] = h
    return systs


def _row(label: str, cells: Sequence[str], width: int = 18) -> str:
    return f"{label:<{max(28, len(label) + 2)}}" + "".join(f"{c:<{width}}" for c in cells).rstrip()


def datacard_text(
    channels: Sequence[CardChannel],
    systs: Mapping[str, Mapping[str, set[str]]],
    shapes_file: str,
    *,
    lumi_name: str,
    lumi_unc: float,
    norm_unc: Mapping[str, float],
    default_norm_unc: float,
    comments: Sequence[str] = (),
) -> str:
    """The datacard for ``channels`` (one bin each); background indices are shared."""
    backgrounds = sorted({p for c in channels for p in c.processes if p != c.signal})
    signals = sorted({c.signal for c in channels})
    index = {s: -i for i, s in enumerate(signals)} | {b: i + 1 for i, b in enumerate(backgrounds)}
    cols = [
        (c.name, p) for c in channels for p in [c.signal, *sorted(set(c.processes) - {c.signal})]
    ]
    width = max(18, *(len(p) + 2 for _, p in cols), *(len(c) + 2 for c, _ in cols))
    observed = all(c.observed for c in channels)
    lines = [f"# {line}" for line in comments]
    lines.append(
        "# data_obs: observed data"
        if observed
        else "# data_obs: Asimov data set (sum of expected backgrounds), not observed data"
    )
    nuisances: list[str] = []
    lumi = f"{1 + lumi_unc:.4g}"
    nuisances.append(_row(f"{lumi_name} lnN", [lumi for _ in cols], width))
    for b in backgrounds:
        unc = f"{1 + norm_unc.get(b, default_norm_unc):.4g}"
        nuisances.append(_row(f"norm_{b} lnN", [unc if p == b else "-" for _, p in cols], width))
    shape_names = sorted({s for per in systs.values() for ss in per.values() for s in ss})
    validate_names(shape_names, "systematic")
    for s in shape_names:
        cells = ["1" if s in systs.get(c, {}).get(p, set()) else "-" for c, p in cols]
        nuisances.append(_row(f"{s} shape", cells, width))
    bin_sel = channels[0].name if len(channels) == 1 else "*"
    lines += [
        f"imax {len(channels)} number of channels",
        f"jmax {len(signals) + len(backgrounds) - 1} number of processes minus 1",
        f"kmax {len(nuisances)} number of nuisance parameters",
        _RULE,
        f"shapes * {bin_sel} {shapes_file} $CHANNEL/$PROCESS $CHANNEL/$PROCESS_$SYSTEMATIC",
        _RULE,
        _row("bin", [c.name for c in channels], width),
        _row("observation", [f"{_integral(c.data_obs):.6g}" for c in channels], width),
        _RULE,
        _row("bin", [c for c, _ in cols], width),
        _row("process", [p for _, p in cols], width),
        _row("process", [str(index[p]) for _, p in cols], width),
        _row("rate", ["-1" for _ in cols], width),
        _RULE,
        *nuisances,
        "* autoMCStats 0",
    ]
    return "\n".join(lines) + "\n"


def card_channel(cat: BinnedCategory, use_data: bool) -> CardChannel:
    """A datacard bin from a binned category; empty backgrounds are left out."""
    procs: dict[str, hist.Hist] = {cat.signal_name: cat.signal}
    for p, h in cat.backgrounds.items():
        if p == cat.signal_name:
            raise ValueError(f"background process {p!r} has the same name as the signal")
        if _integral(nominal(h)) > 0:
            procs[p] = h
    if use_data and cat.data is not None:
        data_obs, observed = nominal(cat.data).copy(), True
    else:
        data_obs = nominal(cat.signal).copy()
        data_obs.reset()
        for p, h in procs.items():
            if p != cat.signal_name:
                data_obs += nominal(h)
        observed = False
        view = data_obs.view(flow=True)
        view["variance"] = np.clip(view["value"], 0, None)  # Poisson-like for Asimov data
    return CardChannel(cat.channel, cat.signal_name, procs, data_obs, observed)


def lumi_nuisance(cfg: AnalysisConfig) -> tuple[str, float]:
    """The lnN luminosity nuisance name and relative uncertainty of the configured era."""
    era = cfg.era_config
    energy = "13TeV" if era.run == 2 else "13p6TeV"
    return f"lumi_{energy}_{era.name}", era.luminosity_uncertainty


def write_datacards(
    output: Mapping,
    outdir: str | Path,
    cfg: AnalysisConfig,
    unblind: bool = False,
    *,
    discriminant: str | None = None,
    scheme: str | None = None,
    max_rel_unc: float | None = None,
) -> list[Path]:
    """Shapes files, per-channel and combined datacards for every mass hypothesis.

    Returns the written paths (cards and shapes files). ``discriminant``, ``scheme`` and
    ``max_rel_unc`` default to the ``postprocessing`` section of the configuration.
    """
    from .categories import bin_category, choose_discriminant, masses_for
    from .normalise import normalise_output

    pp = cfg.postprocessing
    norm = normalise_output(output, cfg)
    disc = discriminant or choose_discriminant(norm, pp.datacard_discriminant)
    ph = norm[disc]
    use_data = unblind or pp.signal_region not in pp.blinded_regions
    lumi_name, lumi_unc = lumi_nuisance(cfg)
    outdir = Path(outdir)
    written: list[Path] = []
    for mass in masses_for(ph, output["hists"][disc]):
        cards = []
        for ch in cfg.channel_names:
            cat = bin_category(
                ph, disc, ch, mass, region=pp.signal_region, scheme=scheme or pp.binning_scheme,
                max_rel_unc=max_rel_unc or pp.max_rel_unc, require_signal=pp.require_signal,
            )  # fmt: skip
            cards.append(card_channel(cat, use_data))
        mdir = outdir / f"m{mass:g}"
        mdir.mkdir(parents=True, exist_ok=True)
        systs = write_shapes(mdir / "shapes.root", cards)
        written.append(mdir / "shapes.root")
        common = dict(
            lumi_name=lumi_name, lumi_unc=lumi_unc, norm_unc=pp.norm_uncertainties,
            default_norm_unc=pp.default_norm_uncertainty,
        )  # fmt: skip
        head = [f"hnl-coffea datacard: HNL m = {mass:g} GeV, era {cfg.era}, discriminant {disc}"]
        head.append(f"adaptive binning: {scheme or pp.binning_scheme}-signal scheme")
        for card in cards:
            text = datacard_text(
                [card], systs, "shapes.root", comments=[*head, f"channel {card.name}"], **common
            )
            (mdir / f"{card.name}.txt").write_text(text)
            written.append(mdir / f"{card.name}.txt")
        text = datacard_text(
            cards, systs, "shapes.root", comments=[*head, "all channels"], **common
        )
        (mdir / "combined.txt").write_text(text)
        written.append(mdir / "combined.txt")
    return written
