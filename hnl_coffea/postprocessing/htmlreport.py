"""The one-page HTML report of an analysis run (``hnl-coffea report``).

:func:`write_report` puts into one self-contained ``index.html`` (CSS inline, every image
embedded as a ``data:`` URI, no script): the provenance (:mod:`.provenance`), the
significance and expected limits vs m_hyp at the analysed luminosity and the projections,
the model comparison (binned significance and limits per discriminant, and the shipped
models' test ROC AUC), the cutflow tables, every plot of the postprocessing folder, and the
pseudo-experiments' global p-values when a ``toys.json`` is given.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..config import AnalysisConfig
from ..paths import data_path
from ..progress import Steps
from .categories import ALL_ERAS
from .html import CSS, esc, fmt, img, markdown_to_html, table
from .provenance import provenance
from .ranking import preferred_discriminant

__all__ = ["build_report", "model_comparison", "read_table", "write_report"]


def _model_auc(cfg: AnalysisConfig) -> dict[str, dict[str, float]]:
    """Test ROC AUC by mass of the shipped classifiers (from their JSON sidecars)."""
    out = {}
    for kind in ("parametric", "transfer"):
        rel = getattr(cfg.models, kind)
        side = data_path(rel).with_name(data_path(rel).name + ".json") if rel else None
        if side is None or not side.is_file():
            continue
        metrics = json.loads(side.read_text()).get("metrics") or {}
        auc = metrics.get("test_auc_by_mass_physics")
        if auc:
            out[f"score_{kind}"] = {str(k): float(v) for k, v in auc.items()}
    return out


def model_comparison(
    rows: Sequence[Mapping[str, Any]], expected: Sequence[Mapping[str, Any]], cfg: AnalysisConfig
) -> tuple[list[str], list[list[str]]]:
    """Per mass: combined Asimov Z (analysed), median σ·B limit (first projection, else
    analysed) and test AUC for each discriminant."""
    eras = {r.get("era", "") for r in rows}
    era = ALL_ERAS if ALL_ERAS in eras else next(iter(eras), "")
    z = {(r["discriminant"], r["mass"]): r["asimov"] for r in rows
         if r["channel"] == "combined" and r.get("era", "") == era}  # fmt: skip
    scen = [s for s in dict.fromkeys(r["scenario"] for r in expected) if s != "analysed"]
    scen = scen[0] if scen else "analysed"
    lim = {(r["discriminant"], r["mass"]): r["xsec_median"] for r in expected
           if r["scenario"] == scen}  # fmt: skip
    auc = _model_auc(cfg)
    discs = list(dict.fromkeys(d for d, _ in z))
    header = (
        ["m_hyp [GeV]"]
        + [f"Z {d}" for d in discs]
        + [f"σ·B limit {d} ({scen}) [pb]" for d in discs]
    )
    header += [f"test AUC {d}" for d in discs if d in auc]
    body = []
    for m in sorted({m for _, m in z}):
        row = [f"{m:g}"] + [fmt(z.get((d, m)), ".3f") for d in discs]
        row += [fmt(lim.get((d, m))) for d in discs]
        row += [fmt(auc[d].get(f"{m:g}"), ".3f") for d in discs if d in auc]
        body.append(row)
    return header, body


_SECTIONS = (("provenance", "Provenance"), ("results", "Significance and limits"),
             ("models", "Model comparison"), ("toys", "Pseudo-experiments"),
             ("cutflow", "Cutflow"), ("plots", "All plots"))  # fmt: skip


def _summary_html(
    prov: Mapping[str, Any], expected: Sequence[Mapping[str, Any]], cfg: AnalysisConfig,
    toys: bool,
) -> list[str]:  # fmt: skip
    """Luminosities analysed and projected, and the headline expected results."""
    analysed = " + ".join(f"{e['era']} {e['luminosity_fb']:g} fb⁻¹ ({e['sqrt_s_tev']:g} TeV)"
                          for e in prov["eras"])  # fmt: skip
    proj = ", ".join(f"{p['name']} {p['luminosity_fb']:g} fb⁻¹ ({p['sqrt_s_tev']:g} TeV)"
                     for p in prov["projections"])  # fmt: skip
    links = [(k, v) for k, v in _SECTIONS if toys or k != "toys"]
    out = ["<p>" + " · ".join(f"<a href='#{k}'>{v}</a>" for k, v in links) + "</p>",
           f"<p><b>Analysed:</b> {esc(analysed)}. <b>Projected to:</b> {esc(proj) or 'none'} "
           "(the analysed expectation scaled by the luminosity ratio).</p>"]  # fmt: skip
    discs = list(dict.fromkeys(r["discriminant"] for r in expected))
    if not discs:
        return out
    disc = preferred_discriminant(discs, cfg.postprocessing.datacard_discriminant, cfg.models)
    scen = list(dict.fromkeys(r["scenario"] for r in expected))
    masses = sorted({r["mass"] for r in expected if r["discriminant"] == disc})
    cell = {(r["scenario"], r["mass"]): r for r in expected if r["discriminant"] == disc}
    head = ["m_hyp [GeV]"] + [f"{s}: Z / σ·B limit [pb]" for s in scen]
    rows = [[f"{m:g}"] + [f"{fmt(cell[(s, m)]['asimov'], '.2f')} / {fmt(cell[(s, m)]['xsec_median'])}"
                          if (s, m) in cell else "–" for s in scen] for m in masses]  # fmt: skip
    cl = f"{100 * cfg.postprocessing.limit_cl:g} %"
    out.append(f"<p>Expected results with {esc(disc)}, all channels and eras combined "
               f"(Asimov significance / median expected {cl} CL limit):</p>")  # fmt: skip
    out.append(table(head, rows))
    return out


def _provenance_html(prov: Mapping[str, Any]) -> str:
    versions = [["python", prov["python"]], *prov["versions"].items()]
    parts = [f"<p>Configuration SHA-256: <code>{prov['config_sha256']}</code></p>"]
    parts.append("<details open><summary>software versions</summary>"
                 + table(["package", "version"], versions) + "</details>")  # fmt: skip
    parts.append(table(
        ["era", "√s [TeV]", "luminosity analysed [fb⁻¹]", "luminosity uncertainties"],
        [[e["era"], f"{e['sqrt_s_tev']:g}", f"{e['luminosity_fb']:g}",
          ", ".join(f"{k} {v:g}" for k, v in e["luminosity_uncertainties"].items())]
         for e in prov["eras"]],
    ))  # fmt: skip
    parts.append(table(["projection", "luminosity [fb⁻¹]", "√s [TeV]"],
                        [[p["name"], f"{p['luminosity_fb']:g}", f"{p['sqrt_s_tev']:g}"]
                         for p in prov["projections"]]))  # fmt: skip
    if prov["data_lumi_sections"]:
        parts.append(table(["data dataset", "certified lumi sections processed", "events lost to the golden JSON"],
                            [[ds, n, (prov["certification"].get(ds) or {}).get("events_lost", "–")]
                             for ds, n in prov["data_lumi_sections"].items()]))  # fmt: skip
    if prov.get("executor"):
        parts.append(f"<p>Processed with {esc(prov['executor'])} in "
                     f"{fmt(prov.get('wall_s'), '.0f')} s.</p>")  # fmt: skip
    files = prov["files"]
    parts.append(f"<details><summary>{len(files)} input files of {prov['n_datasets']} datasets"
                 "</summary>" + table(["dataset", "kind", "era", "file", "events"],
                 [[f["dataset"], f["kind"], f["era"], f["file"], f["events"]] for f in files])
                 + "</details>")  # fmt: skip
    return "\n".join(parts)


def _toys_html(toys: Mapping[str, Any]) -> str:
    rows = []
    if "observed" in toys:
        o = toys["observed"]
        rows.append(["observed", fmt(o["z_local"], ".2f"), f"{o['combination']} m={o['mhyp']:g}",
                     fmt(o["p_global"]), fmt(o["z_global"], ".2f")])  # fmt: skip
    for z, r in (toys.get("reference") or {}).items():
        rows.append([f"reference Z = {z}", fmt(r["z_local"], ".2f"),
                     f"{r['combination']} m={r['mhyp']:g}", fmt(r["p_global"]),
                     fmt(r["z_global"], ".2f")])  # fmt: skip
    head = f"<p>{toys.get('n_toys')} background-only pseudo-experiments over {toys.get('n_points')} scan points.</p>"
    return head + table(["", "local Z", "point", "global p-value", "global Z"], rows)


def _plot_groups(plots_dir: Path) -> dict[str, list[Path]]:
    groups: dict[str, list[Path]] = {}
    for p in sorted(plots_dir.rglob("*.png")):
        groups.setdefault(str(p.parent.relative_to(plots_dir)), []).append(p)
    return groups


def write_report(
    output: Mapping[str, Any],
    postprocess_dir: str | Path,
    outdir: str | Path,
    cfg: AnalysisConfig,
    *,
    rows: Sequence[Mapping[str, Any]],
    expected: Sequence[Mapping[str, Any]],
    toys: Mapping[str, Any] | None = None,
    warnings: Sequence[str] = (),
    title: str = "hnl-coffea analysis report",
    progress: bool = False,
) -> Path:
    """Write ``<outdir>/index.html`` (see the module docstring); returns its path."""
    pdir, outdir = Path(postprocess_dir), Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    groups = _plot_groups(pdir / "plots") if (pdir / "plots").is_dir() else {}
    top = groups.pop(".", [])
    n_steps = 4 + sum(len(v) for v in groups.values()) + len(top)
    with Steps("report", n_steps, enabled=progress) as step:
        prov = provenance(output, cfg)
        step.advance("provenance")
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        body = [f"<h1>{esc(title)}</h1>",
                f"<p>Written {now} by hnl-coffea {esc(prov['versions']['hnl-coffea'])}.</p>"]  # fmt: skip
        body += _summary_html(prov, expected, cfg, toys=bool(toys))
        body += ["<h2 id='provenance'>Provenance</h2>", _provenance_html(prov)]
        body.append("<h2 id='results'>Significance and expected limits vs m_hyp</h2>")
        order = {"significance_vs_mass": 0, "limits_analysed": 1}
        big = sorted((p for p in top if p.stem.startswith(("significance", "limits"))),
                     key=lambda p: (order.get(p.stem, 2), p.stem))  # fmt: skip
        body.append("<div class='plots big'>")
        for p in big:
            body.append(img(p, p.stem))
            step.advance(p.stem)
        body.append("</div>")
        for name in ("expected.md", "significance.md"):
            if (pdir / name).is_file():
                body.append(markdown_to_html((pdir / name).read_text()))
        step.advance("tables")
        body.append("<h2 id='models'>Model comparison</h2>")
        head, comparison = model_comparison(rows, expected, cfg)
        body.append("<p>Combined Asimov significance at the analysed luminosity, median expected "
                    "limit, and the classifiers' ROC AUC on their own test split.</p>")  # fmt: skip
        body.append(table(head, comparison))
        if toys:
            body += [
                "<h2 id='toys'>Pseudo-experiments: look-elsewhere effect</h2>",
                _toys_html(toys),
            ]
        body.append("<h2 id='cutflow'>Cutflow</h2>")
        if (pdir / "cutflow.md").is_file():
            body.append(markdown_to_html((pdir / "cutflow.md").read_text()))
        step.advance("cutflow")
        body.append("<h2 id='plots'>All plots</h2>")
        rest = [p for p in top if p not in big]
        for group, paths in [(".", rest), *groups.items()] if rest else groups.items():
            body.append(f"<h3>{esc(group)}</h3><div class='plots'>")
            for p in paths:
                body.append(img(p, str(p.relative_to(pdir / "plots").with_suffix(""))))
                step.advance(p.stem)
            body.append("</div>")
        if warnings:
            body.append("<h2 id='warnings'>Warnings</h2><ul class='warn'>"
                        + "".join(f"<li>{esc(w)}</li>" for w in warnings) + "</ul>")  # fmt: skip
        page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
                f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
                + "\n".join(body) + "</body></html>")  # fmt: skip
        path = outdir / "index.html"
        path.write_text(page, encoding="utf-8")
        step.advance("index.html")
    return path


def _number(text: str) -> Any:
    if text in ("", "None"):
        return None
    try:
        return float(text)
    except ValueError:
        return text


def read_table(path: Path) -> list[dict[str, Any]]:
    """A CSV table written by the postprocessing, numbers as floats (empty: None)."""
    import csv

    with path.open(newline="") as f:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]


def build_report(
    output: Mapping[str, Any],
    outdir: str | Path,
    cfg: AnalysisConfig,
    *,
    postprocess_dir: str | Path | None = None,
    toys: str | Path | None = None,
    unblind: bool = False,
    progress: bool = False,
) -> Path:
    """The report of ``output``: from the tables and plots of ``postprocess_dir`` when it
    holds them, else postprocessing into ``<outdir>/postprocess`` first."""
    outdir = Path(outdir)
    pdir = Path(postprocess_dir) if postprocess_dir is not None else None
    warnings: list[str] = []
    if pdir is None or not (pdir / "significance.csv").is_file():
        from .report import postprocess_output

        pdir = outdir / "postprocess"
        postprocess_output(output, pdir, cfg, unblind=unblind, progress=progress)
    if (pdir / "warnings.txt").is_file():
        warnings = (pdir / "warnings.txt").read_text().splitlines()
    rows = read_table(pdir / "significance.csv")
    for r in rows:  # channels and eras are names, even when they look like numbers
        r["channel"], r["era"] = str(r["channel"]), "" if r.get("era") is None else _era(r["era"])
    expected = read_table(pdir / "expected.csv") if (pdir / "expected.csv").is_file() else []
    for r in expected:
        r["scenario"] = str(r["scenario"])
    toy_report = json.loads(Path(toys).read_text()) if toys and Path(toys).is_file() else None
    return write_report(output, pdir, outdir, cfg, rows=rows, expected=expected, toys=toy_report,
                        warnings=warnings, progress=progress)  # fmt: skip


def _era(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
