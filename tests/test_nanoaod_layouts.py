"""Toy NanoAOD of every layout through the whole processor: v9 (``legacy``, 2018), v12-v14
(``modern``) and v15 (no ``Jet_jetId``, the varied MET instead of its deltas) for 2022EE,
with every systematic, JES and JER included."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hnl_coffea.histograms import NOMINAL
from processors import HNLProcessor

N_EVENTS = 1500
SAMPLE = "WZTo3LNu"


def _process(tmp_path, cfg, layout: str):
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    path = generate_toy(tmp_path / layout, cfg, layout)
    entry = json.loads(path.read_text())[SAMPLE]
    (file,) = entry["files"]
    events = NanoEventsFactory.from_root(
        {file: "Events"}, schemaclass=NanoAODSchema, mode="virtual"
    ).events()
    events.metadata.update({"dataset": SAMPLE, "filename": file, **entry["metadata"]})
    return HNLProcessor(cfg, models=False, systematics=True).process(events)


def generate_toy(folder, cfg, layout: str):
    from hnl_coffea.toymc import generate_fileset

    return generate_fileset(folder, N_EVENTS, samples=[SAMPLE], layout=layout, cfg=cfg, seed=5)


def _yields(out) -> dict[str, np.ndarray]:
    h = out["hists"]["mt_total"]
    return {
        syst: np.asarray(
            [h[{"region": r, "systematic": syst}].sum(flow=True).value for r in h.axes["region"]]
        )
        for syst in h.axes["systematic"]
    }


@pytest.mark.parametrize("era, layouts", [("2018", ("legacy",)), ("2022EE", ("modern", "v15"))])
def test_every_layout_processes_end_to_end(tmp_path, cfg, era, layouts):
    c = cfg.for_era(era)
    results = {layout: _yields(_process(tmp_path, c, layout)) for layout in layouts}
    for layout, y in results.items():
        assert y[NOMINAL].sum() > 20, layout  # events reach the regions
        for syst in ("JES_TotalUp", "JES_TotalDown", "JERUp", "JERDown", "unclustEnUp"):
            assert syst in y, (layout, syst)
        # JES moves jets across the thresholds: some region yield changes
        assert any(not np.array_equal(y[s], y[NOMINAL]) for s in ("JES_TotalUp", "JES_TotalDown"))
    if "v15" in results:
        # v15 computes the jet ID the toy stored in v12, and stores the same varied MET
        v12, v15 = results["modern"], results["v15"]
        assert set(v12) == set(v15)
        for syst in v12:
            np.testing.assert_allclose(v15[syst], v12[syst], rtol=1e-6, err_msg=syst)
