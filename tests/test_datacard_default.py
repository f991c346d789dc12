"""The datacards' default discriminant follows the model comparison shipped with the models:
the best one overall, or per mass hypothesis with ``auto_per_mass``."""

from __future__ import annotations

import json

import pytest
from test_postprocessing_fake_output import make_output

from hnl_coffea.paths import data_path
from hnl_coffea.postprocessing.combine import write_datacards
from hnl_coffea.postprocessing.ranking import discriminant_ranking


@pytest.fixture(scope="module")
def output():
    from hnl_coffea import load_config

    return make_output(load_config(), n=300)


def _disc(card_path) -> str:
    head = card_path.read_text().splitlines()[0]
    return head.split("discriminant ")[1].strip()


def _comparison(tmp_path, overall: str, by_mass: dict[str, str]) -> str:
    z = {"mt_total": {"85": [1.0, 0.1]}, "parametric": {"85": [2.0, 0.1]},
         "transfer": {"85": [1.5, 0.1]}}  # fmt: skip
    path = tmp_path / "comparison.json"
    path.write_text(json.dumps({"best": {"overall": overall, "by_mass": by_mass},
                                "z_combined_and_error": z}))  # fmt: skip
    return str(path)


def test_auto_per_mass_follows_the_table(output, cfg, tmp_path):
    masses = sorted(output["datasets"][d]["m_hnl"] for d in output["datasets"]
                    if output["datasets"][d].get("is_signal"))  # fmt: skip
    by_mass = {
        f"{m:g}": ("mt_total" if i % 2 else "score_parametric") for i, m in enumerate(masses)
    }
    path = _comparison(tmp_path, "score_transfer", by_mass)
    c = cfg.with_overrides({"models.comparison": path,
                            "postprocessing.datacard_discriminant": "auto_per_mass"})  # fmt: skip
    written = write_datacards(output, tmp_path / "cards", c)
    for m in masses:
        assert _disc(tmp_path / "cards" / f"m{m:g}" / "combined.txt") == by_mass[f"{m:g}"]
    c2 = c.with_overrides({"postprocessing.datacard_discriminant": "auto"})
    written = write_datacards(output, tmp_path / "cards2", c2)
    assert all(_disc(p) == "score_transfer" for p in written if p.name == "combined.txt")


def test_without_comparison_the_fallback_order(cfg):
    c = cfg.with_overrides({"models.comparison": None})
    assert discriminant_ranking(c.models) == ["score_transfer", "score_parametric", "mt_total"]


def test_shipped_comparison_sets_the_default(output, cfg, tmp_path):
    summary = json.loads(data_path(cfg.models.comparison).read_text())
    names = {"mt_total": "mt_total", "parametric": "score_parametric",
             "transfer": "score_transfer"}  # fmt: skip
    total = {names[n]: sum(v[0] ** 2 for v in t.values())
             for n, t in summary["z_combined_and_error"].items()}  # fmt: skip
    best = max(total, key=total.get)  # recomputed from the table itself
    assert summary["best"]["overall"] == best
    for m, name in summary["best"]["by_mass"].items():  # the largest combined Z at each mass
        z = {names[n]: t[m][0] for n, t in summary["z_combined_and_error"].items()}
        assert name == max(z, key=z.get), m
    assert discriminant_ranking(cfg.models)[0] == best
    written = write_datacards(output, tmp_path, cfg)
    cards = [p for p in written if p.name == "combined.txt"]
    assert cards and all(_disc(p) == best for p in cards)
