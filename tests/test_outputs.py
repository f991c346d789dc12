"""Processor outputs on disk: read without unpickling, written atomically, never overwritten
silently; every reader (postprocess, datacards, toys) gives one-line errors on bad files."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
import zipfile

import hist
import numpy as np
import pytest
from click.testing import CliRunner
from test_postprocessing_fake_output import make_output

from hnl_coffea.cli import main
from hnl_coffea.fileset import DatasetInfo
from hnl_coffea.outputs import OutputFileError, load_output, output_kind, save_output

READERS = (
    ["postprocess", "--no-plots"],
    ["datacards"],
    ["toys", "--ntoys", "5"],
)


def _invoke(args: list[str], file, tmp_path):
    return CliRunner().invoke(
        main, [args[0], str(file), "--outdir", str(tmp_path / "o"), *args[1:]]
    )


def test_round_trip_keeps_every_value_and_type(cfg, tmp_path):
    out = make_output(cfg, n=50)
    out["datasets"] = {k: DatasetInfo({"name": k, **v}) for k, v in out["datasets"].items()}
    out["lumi"] = {"SingleMuon": {(1, 2), (1, 3), (319_000, 12)}}
    out["summary"] = {"n_files": 3, "wall_s": float("nan"), "skipped": []}
    out["extra"] = {"arr": np.arange(6.0).reshape(2, 3), "tup": (1, "a"), 5: "int key", "@x": 1}
    path = save_output(out, tmp_path / "out.zip")
    assert output_kind(path) == "zip" and zipfile.is_zipfile(path)
    back = load_output(path)
    assert set(back) == set(out)
    for name, h in out["hists"].items():
        assert isinstance(back["hists"][name], hist.Hist)
        assert back["hists"][name] == h, name  # axes, labels, values and variances
        assert back["hists"][name].axes[0].traits.growth
    assert back["lumi"] == out["lumi"]
    assert all(isinstance(v, DatasetInfo) for v in back["datasets"].values())
    assert back["datasets"] == out["datasets"] and back["cutflow"] == out["cutflow"]
    assert np.isnan(back["summary"]["wall_s"]) and back["summary"]["skipped"] == []
    assert np.array_equal(back["extra"]["arr"], out["extra"]["arr"])
    assert back["extra"]["tup"] == (1, "a") and back["extra"][5] == "int key"
    assert back["extra"]["@x"] == 1
    # merged outputs accumulate as before (dataset metadata is idempotent under +)
    merged = back["datasets"]["ZZ"] + out["datasets"]["ZZ"]
    assert merged == out["datasets"]["ZZ"]


def test_histograms_follow_the_uhi_zip_layout(cfg, tmp_path):
    """Another UHI reader (uhi.io.zip + hist.serialization) reads our histograms."""
    from hist.serialization import from_uhi
    from uhi.io import zip as uhi_zip

    out = make_output(cfg, n=20)
    save_output(out, tmp_path / "out.zip")
    index = load_output(tmp_path / "out.zip")
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        import json

        content = json.loads(zf.read("hnl-coffea.json"))["content"]
        ref = content["hists"]["mt_total"]["@hist"]
        h = from_uhi(uhi_zip.read(zf, ref))
    assert h == index["hists"]["mt_total"] == out["hists"]["mt_total"]


def test_variable_and_integer_axes_round_trip(tmp_path):
    """Rebinned templates have variable edges (numpy arrays inside the UHI description)."""
    edges = np.array([0.0, 12.5, 40.0, 300.0])
    h = hist.Hist(
        hist.axis.Variable(edges, name="x"),
        hist.axis.Integer(0, 3, name="n"),
        storage=hist.storage.Weight(),
    )
    h.fill(x=[1.0, 20.0, 20.0, 500.0], n=[0, 1, 1, 2], weight=[0.5, 1.0, 2.0, 4.0])
    save_output({"t": {"edges": edges, "h": h}}, tmp_path / "r.zip")
    back = load_output(tmp_path / "r.zip")["t"]
    assert back["h"].axes[0].edges.tolist() == edges.tolist()
    assert back["h"].view(flow=True).value.tolist() == h.view(flow=True).value.tolist()
    assert back["h"].view(flow=True).variance.tolist() == h.view(flow=True).variance.tolist()
    assert back["edges"].tolist() == edges.tolist()


def test_unsupported_object_is_named(tmp_path):
    with pytest.raises(OutputFileError, match=r"cannot save object at 'output\.extra\.x'"):
        save_output({"extra": {"x": object()}}, tmp_path / "o.zip")
    assert not list(tmp_path.iterdir())  # no temporary file left behind


class _Payload:
    """A pickle that creates a file when unpickled (what a crafted .coffea file can do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("reader", READERS, ids=lambda r: r[0])
def test_crafted_pickle_is_not_run(reader, tmp_path):
    marker = tmp_path / "payload-ran"
    crafted = tmp_path / "crafted.coffea"
    crafted.write_bytes(pickle.dumps({"hists": _Payload(marker)}))
    res = _invoke(reader, crafted, tmp_path)
    assert res.exit_code == 1
    assert not marker.exists(), "the pickle payload ran"
    assert "--allow-pickle" in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_own_pickle_is_read_with_a_note(cfg, tmp_path):
    from coffea.util import save

    old = tmp_path / "old.coffea"
    save(make_output(cfg, n=50), old)
    res = _invoke(["datacards", "--allow-pickle"], old, tmp_path)
    assert res.exit_code == 0, res.output
    assert "note: reading" in res.output and "unpickling" in res.output


@pytest.mark.parametrize("reader", READERS, ids=lambda r: r[0])
@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_damaged_output_is_one_line(reader, damage, cfg, tmp_path):
    good = save_output(make_output(cfg, n=20), tmp_path / "good.zip")
    bad = tmp_path / "bad.zip"
    data = good.read_bytes()
    bad.write_bytes(
        {"truncated": data[: len(data) // 2], "garbage": b"\x00garbage" * 50, "empty": b""}[damage]
    )
    res = _invoke(reader, bad, tmp_path)
    assert res.exit_code == 1, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "cannot read processor output" in lines[0], res.output
    assert "Aborted" not in res.output and "Traceback" not in res.output


def test_existing_output_is_refused_then_replaced_with_backup(cfg, tmp_path):
    path = save_output({"hists": {}, "n": 1}, tmp_path / "o.zip")
    with pytest.raises(OutputFileError, match="exists; pass --overwrite"):
        save_output({"n": 2}, path)
    assert load_output(path)["n"] == 1
    save_output({"n": 3}, path, backup=True)
    assert load_output(path)["n"] == 3
    assert load_output(tmp_path / "o.zip.bak")["n"] == 1
    save_output({"n": 4}, path, overwrite=True)
    assert load_output(path)["n"] == 4


def test_run_refuses_an_existing_output_before_processing(tmp_path):
    fileset = tmp_path / "fs.json"
    fileset.write_text('{"A": {"files": {"/nonexistent/file.root": "Events"}}}')
    out = tmp_path / "out.zip"
    out.write_bytes(b"precious")
    res = CliRunner().invoke(main, ["run", str(fileset), "-o", str(out), "--executor", "iterative"])
    assert res.exit_code == 1
    assert "exists; pass --overwrite" in res.output
    assert "nonexistent" not in res.output  # refused before the files were even opened
    assert out.read_bytes() == b"precious"


_SAVER = """
import sys, hist, numpy as np
from hnl_coffea.outputs import save_output
h = hist.Hist.new.StrCat([], growth=True, name="dataset").Reg(4000, 0, 1, name="x").Weight()
for i in range(60):
    h.fill(dataset=f"d{i}", x=np.random.default_rng(i).random(1000))
print("ready", flush=True)
save_output({"hists": {"big": h}, "n": 2}, sys.argv[1], overwrite=True)
"""


def test_sigkill_during_save_keeps_the_previous_output(tmp_path):
    path = save_output({"hists": {}, "n": 1}, tmp_path / "out.zip")
    proc = subprocess.Popen(
        [sys.executable, "-c", _SAVER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".out.zip.*.tmp")):
            assert proc.poll() is None, "the save finished before it could be interrupted"
            assert time.monotonic() < deadline
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert load_output(path)["n"] == 1  # intact: the new file was never half-written in place
