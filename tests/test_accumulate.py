"""Adding chunk histograms: category axes matched by label, whatever order each chunk filled
them in; the sum equals one histogram filled with every entry."""

from __future__ import annotations

import copy as copy_module
import gc

import hist
import numpy as np
import pytest
from coffea import processor

from hnl_coffea.accumulate import HistogramSet, StoredPart, add_histograms, sum_histograms
from hnl_coffea.outputs import OutputFileError, load_output, save_output

DATASETS, REGIONS, SYSTS = ("WZ", "ZZ", "TT", "DY"), ("SR", "CR_Z"), ("nominal", "aUp", "bDown")


def _book() -> hist.Hist:
    return hist.Hist(
        hist.axis.StrCategory([], name="dataset", growth=True),
        hist.axis.StrCategory([], name="region", growth=True),
        hist.axis.IntCategory([100, 300], name="mhyp"),
        hist.axis.StrCategory([], name="systematic", growth=True),
        hist.axis.Regular(10, 0.0, 1.0, name="score"),
        storage=hist.storage.Weight(),
    )


def _entries(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {
        "dataset": rng.choice(DATASETS[: rng.integers(1, 5)], n),
        "region": rng.choice(REGIONS, n),
        "mhyp": rng.choice([100, 300, 500], n),  # 500: the mhyp overflow bin
        "systematic": rng.choice(SYSTS[: rng.integers(1, 4)], n),
        "score": rng.uniform(-0.1, 1.1, n),  # with under- and overflow
        "weight": rng.normal(1.0, 0.5, n),
    }


def _filled(chunks: list[dict[str, np.ndarray]]) -> list[hist.Hist]:
    out = []
    for c in chunks:
        h = _book()
        order = np.argsort(c["score"])  # each chunk grows its categories in its own order
        h.fill(**{k: v[order] for k, v in c.items()})
        out.append(h)
    return out


def _by_label(h: hist.Hist) -> dict[tuple, tuple[float, float]]:
    out = {}
    for d in h.axes["dataset"]:
        for r in h.axes["region"]:
            for s in h.axes["systematic"]:
                v = h[{"dataset": d, "region": r, "systematic": s}].view(flow=True)
                out[d, r, s] = (v.value.round(9).tolist(), v.variance.round(9).tolist())
    return out


def test_sum_of_chunks_equals_one_fill_of_every_entry():
    rng = np.random.default_rng(7)
    chunks = [_entries(rng, int(rng.integers(1, 400))) for _ in range(12)]
    reference = _book()
    for c in chunks:
        reference.fill(**c)
    total = None
    for h in _filled(chunks):
        total = h if total is None else add_histograms(total, h)
    assert sorted(total.axes["dataset"]) == sorted(reference.axes["dataset"])
    assert _by_label(total) == _by_label(reference)


def test_processor_accumulate_adds_histogram_sets():
    rng = np.random.default_rng(11)
    chunks = [_entries(rng, 300) for _ in range(5)]
    outs = [{"hists": HistogramSet({"score": h}), "n": 1} for h in _filled(chunks)]
    first = outs[0]["hists"]["score"].copy()
    acc = processor.accumulate(outs)
    assert isinstance(acc["hists"], HistogramSet) and acc["n"] == 5
    reference = _book()
    for c in chunks:
        reference.fill(**c)
    assert _by_label(acc["hists"]["score"]) == _by_label(reference)
    assert _by_label(outs[0]["hists"]["score"]) == _by_label(first)  # inputs untouched


def test_different_axes_are_refused_by_name():
    a = _book()
    b = hist.Hist(*list(_book().axes)[:-1], hist.axis.Regular(5, 0.0, 1.0, name="score"),
                  storage=hist.storage.Weight())  # fmt: skip
    b.fill(dataset="WZ", region="SR", mhyp=100, systematic="nominal", score=0.5)
    a.fill(dataset="ZZ", region="SR", mhyp=100, systematic="nominal", score=0.5)
    with pytest.raises(ValueError, match="axis 'score' differs"):
        add_histograms(a, b)


def _one_dataset_chunks(rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    """Chunks that each hold one dataset, as the processor's chunk outputs do."""
    chunks = []
    for ds in DATASETS + DATASETS[:2]:  # WZ and ZZ twice: parts added after a spill
        c = _entries(rng, int(rng.integers(50, 300)))
        c["dataset"] = np.full(len(c["score"]), ds)
        chunks.append(c)
    return chunks


def test_spilled_parts_are_read_back_one_at_a_time_and_sum_to_the_total(tmp_path):
    rng = np.random.default_rng(5)
    chunks = _one_dataset_chunks(rng)
    reference = _book()
    for c in chunks:
        reference.fill(**c)
    acc = HistogramSet()
    for i, h in enumerate(_filled(chunks)):
        acc += HistogramSet({"score": h})
        if i == 2:
            moved = acc.spill(tmp_path)
            assert moved > 0 and acc.memory_nbytes() == 0
            assert all(isinstance(p, StoredPart) for p in acc.raw_parts("score"))
    parts = acc.raw_parts("score")
    assert len(parts) == len(DATASETS)  # one part per dataset, spilled or not
    assert sum(isinstance(p, StoredPart) for p in parts) == 1  # TT: not added to since
    for part in acc.parts("score"):
        (ds,) = part.axes["dataset"]
        mine = _by_label(part)
        theirs = {k: v for k, v in _by_label(reference).items() if k[0] == ds}
        for key, value in theirs.items():  # labels a part never saw are empty in the total
            assert mine.get(key, value) == value and (key in mine or not np.any(value))
    assert _by_label(acc["score"]) == _by_label(reference)


def test_spilled_files_live_as_long_as_a_copy_refers_to_them(tmp_path):
    rng = np.random.default_rng(9)
    acc = HistogramSet()
    for h in _filled(_one_dataset_chunks(rng)[:3]):
        acc += HistogramSet({"score": h})
    acc.spill(tmp_path)
    assert len(list(tmp_path.iterdir())) == 3
    copy = processor.accumulate([{"hists": acc}, {"hists": HistogramSet()}])["hists"]
    deep = copy_module.deepcopy(acc)
    expected = _by_label(sum_histograms(acc.parts("score")))
    del acc, copy
    gc.collect()
    assert len(list(tmp_path.iterdir())) == 3  # the deep copy still reads them
    assert _by_label(deep["score"]) == expected
    del deep
    gc.collect()
    assert list(tmp_path.iterdir()) == []


def test_a_saved_set_keeps_its_parts_and_loads_them_lazily(tmp_path):
    rng = np.random.default_rng(3)
    acc = HistogramSet()
    for h in _filled(_one_dataset_chunks(rng)):
        acc += HistogramSet({"score": h})
    (tmp_path / "spill").mkdir()
    acc.spill(tmp_path / "spill")
    expected = [_by_label(p) for p in acc.parts("score")]
    save_output({"hists": acc}, tmp_path / "out.zip")
    back = load_output(tmp_path / "out.zip")["hists"]
    assert isinstance(back, HistogramSet) and back.memory_nbytes() == 0
    assert [_by_label(p) for p in back.parts("score")] == expected
    unread = load_output(tmp_path / "out.zip")["hists"]
    assert _by_label(back["score"]) == _by_label(sum_histograms(acc.parts("score")))
    save_output({"x": 1}, tmp_path / "out.zip", overwrite=True)  # replaced under the reader
    with pytest.raises(OutputFileError, match="changed after it was read"):
        next(unread.parts("score"))
