"""Inputs for CMS ``combine``: shapes ROOT files (uproot) and datacards, per era and combined.

Per mass hypothesis the export writes, into ``<outdir>/m<mass>/``,

* ``shapes.root`` with one directory per datacard bin ``<channel>_<era>`` holding
  ``<process>``, ``data_obs`` and ``<process>_<nuisance>Up/Down`` (``TH1D`` with Σw²);
* ``<channel>_<era>.txt``, one card per bin; ``combined_<era>.txt``, the channels of one
  era; and ``combined.txt``, every era × channel bin.

Cards use ``shapes * * shapes.root $CHANNEL/$PROCESS $CHANNEL/$PROCESS_$SYSTEMATIC``,
rates ``-1`` (taken from the histograms), the signal at process index 0 and backgrounds at
1, 2, .... Nuisances (named by :mod:`.nuisances`): the luminosity split into its configured
parts (lnN on every process; a part shared by eras is correlated), an lnN normalisation per
background, every systematic variation of the histograms as a ``shape`` nuisance (era
suffix unless configured as correlated across eras) and ``* autoMCStats 0``.

``data_obs`` is the observed data only when data exist and are unblinded; otherwise it is the
Asimov data set (the sum of the expected backgrounds), which the card states in a comment.
The templates are those of :func:`~.categories.usable_templates` (negative bins floored at 0,
processes without positive yield left out), as in the plots and significances.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import hist
import numpy as np
import uproot

from ..config import AnalysisConfig
from ..progress import Steps
from .categories import BinnedCategory, clip_negative_bins, nominal, take_categories
from .nuisances import era_nuisance, lnn_uncertainties

__all__ = [
    "CardChannel",
    "card_channel",
    "card_lnn",
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
    era: str = ""
    channel: str = ""


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


def _templates(
    ch: CardChannel, rename: Callable[[str], str]
) -> tuple[dict[str, hist.Hist], dict[str, set[str]]]:
    """Templates ``{name: 1D hist}`` of a channel and the (renamed) shape nuisances per
    process; a variation without positive yield in either direction is left out."""
    out: dict[str, hist.Hist] = {}
    systs: dict[str, set[str]] = {}
    for proc, h in ch.processes.items():
        out[proc] = clip_negative(nominal(h), f"{ch.name}/{proc}")
        systs[proc] = set()
        for syst in shape_systematics(h):
            up = clip_negative(
                take_categories(h, systematic=f"{syst}Up"), f"{ch.name}/{proc}_{syst}Up"
            )
            dn = clip_negative(
                take_categories(h, systematic=f"{syst}Down"), f"{ch.name}/{proc}_{syst}Down"
            )
            if _integral(up) > 0 and _integral(dn) > 0 and _integral(out[proc]) > 0:
                name = rename(syst)
                out[f"{proc}_{name}Up"], out[f"{proc}_{name}Down"] = up, dn
                systs[proc].add(name)
    out["data_obs"] = clip_negative(ch.data_obs, f"{ch.name}/data_obs")
    return out, systs


def write_shapes(
    path: Path,
    channels: Sequence[CardChannel],
    rename: Callable[[str, CardChannel], str] | None = None,
) -> dict[str, dict[str, set[str]]]:
    """Write the shapes ROOT file; returns the shape nuisances per channel and process.
    ``rename(systematic, channel)`` gives a variation's nuisance name (default: unchanged)."""
    validate_names([c.name for c in channels], "channel")
    systs: dict[str, dict[str, set[str]]] = {}
    with uproot.recreate(path) as f:
        for ch in channels:
            validate_names(list(ch.processes), f"process (channel {ch.name})")
            names = (lambda s, c=ch: rename(s, c)) if rename else (lambda s: s)
            templates, systs[ch.name] = _templates(ch, names)
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
    lnn: Mapping[str, Mapping[str, Mapping[str, float]]],
    comments: Sequence[str] = (),
) -> str:
    """The datacard for ``channels`` (one bin each); background indices are shared.

    ``lnn``: per channel, ``{nuisance: {process: relative uncertainty}}`` (log-normal);
    ``systs``: per channel and process, the shape nuisances found in the shapes file.
    """
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
    lnn_names = list(dict.fromkeys(n for c in channels for n in lnn.get(c.name, {})))
    validate_names(lnn_names, "lnN nuisance")
    for n in lnn_names:
        cells = []
        for c, p in cols:
            unc = lnn.get(c, {}).get(n, {}).get(p)
            cells.append("-" if unc is None else f"{1 + unc:.4g}")
        nuisances.append(_row(f"{n} lnN", cells, width))
    shape_names = sorted({s for c in channels for ss in systs.get(c.name, {}).values() for s in ss})
    validate_names(shape_names, "systematic")
    clash = sorted(set(shape_names) & set(lnn_names))
    if clash:
        raise ValueError(f"nuisance(s) {clash} are both lnN and shape")
    for s in shape_names:
        cells = ["1" if s in systs.get(c, {}).get(p, set()) else "-" for c, p in cols]
        nuisances.append(_row(f"{s} shape", cells, width))
    lines += [
        f"imax {len(channels)} number of channels",
        f"jmax {len(signals) + len(backgrounds) - 1} number of processes minus 1",
        f"kmax {len(nuisances)} number of nuisance parameters",
        _RULE,
        f"shapes * * {shapes_file} $CHANNEL/$PROCESS $CHANNEL/$PROCESS_$SYSTEMATIC",
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


def card_channel(cat: BinnedCategory, use_data: bool, era: str = "") -> CardChannel:
    """A datacard bin ``<channel>_<era>`` from a binned category (whose templates already
    leave out processes without positive yield)."""
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
    name = f"{cat.channel}_{era}" if era else cat.channel
    return CardChannel(name, cat.signal_name, procs, data_obs, observed, era, cat.channel)


def card_lnn(cfg: AnalysisConfig, card: CardChannel) -> dict[str, dict[str, float]]:
    """The log-normal nuisances of one card bin (see :mod:`.nuisances`)."""
    bkgs = [p for p in card.processes if p != card.signal]
    return lnn_uncertainties(cfg, card.era or cfg.era, card.signal, bkgs)


def write_datacards(
    output: Mapping,
    outdir: str | Path,
    cfg: AnalysisConfig,
    unblind: bool = False,
    *,
    discriminant: str | None = None,
    scheme: str | None = None,
    max_rel_unc: float | None = None,
    progress: bool = False,
) -> list[Path]:
    """Shapes files and datacards per era × channel, per era and combined, for every mass
    hypothesis (see the module docstring). Returns the written paths.

    ``discriminant``, ``scheme`` and ``max_rel_unc`` default to the ``postprocessing``
    section of the configuration.
    """
    from .categories import binned_categories, first_era_choice
    from .normalise import normalise_output, output_eras
    from .ranking import discriminant_ranking

    pp = cfg.postprocessing
    scheme = scheme or pp.binning_scheme
    eras = output_eras(output, cfg)
    norms = {e: normalise_output(output, cfg, eras=[e]) for e in eras}
    wanted = discriminant or pp.datacard_discriminant
    disc = first_era_choice(norms, wanted, discriminant_ranking(cfg.models))
    use_data = unblind or pp.signal_region not in cfg.blinded_regions
    binned = partial(binned_categories, norms, output, cfg, scheme=scheme, max_rel_unc=max_rel_unc)
    cats = binned([disc])
    masses = sorted({c.mass for c in cats})
    chosen = dict.fromkeys(masses, disc)
    if wanted == "auto_per_mass":  # the comparison's best at each mass hypothesis
        chosen = {m: first_era_choice(norms, wanted, discriminant_ranking(cfg.models, m))
                  for m in masses}  # fmt: skip
        cats += binned(sorted(set(chosen.values()) - {disc}))
    outdir = Path(outdir)
    written: list[Path] = []
    rename = lambda syst, ch: era_nuisance(syst, ch.era, cfg)  # noqa: E731
    with Steps("datacards", len(masses), enabled=progress) as step:
        for mass in masses:
            cards = [card_channel(c, use_data, c.era) for c in cats
                     if c.mass == mass and c.discriminant == chosen[mass]]  # fmt: skip
            mdir = outdir / f"m{mass:g}"
            mdir.mkdir(parents=True, exist_ok=True)
            systs = write_shapes(mdir / "shapes.root", cards, rename)
            written.append(mdir / "shapes.root")
            lnn = {c.name: card_lnn(cfg, c) for c in cards}
            head = [f"hnl-coffea datacard: HNL m = {mass:g} GeV, discriminant {chosen[mass]}",
                    f"adaptive binning: {scheme}-signal scheme"]  # fmt: skip
            groups = [([c], f"{c.name}.txt", f"channel {c.channel}, era {c.era}") for c in cards]
            for e in eras:
                per_era = [c for c in cards if c.era == e]
                if per_era:
                    groups.append((per_era, f"combined_{e}.txt", f"all channels, era {e}"))
            groups.append((cards, "combined.txt", f"all channels, eras {', '.join(eras)}"))
            for group, fname, what in groups:
                lumi = ", ".join(f"{e} {cfg.eras[e].luminosity_fb:g}/fb" for e in
                                 dict.fromkeys(c.era for c in group))  # fmt: skip
                text = datacard_text(group, systs, "shapes.root", lnn=lnn,
                                     comments=[*head, what, f"luminosity: {lumi}"])  # fmt: skip
                (mdir / fname).write_text(text)
                written.append(mdir / fname)
            step.advance(f"m = {mass:g} GeV")
    return written
