"""Transfer learning: a head on the frozen backbone, then fine tuning of the unfrozen backbone
that must change its weights and can only be kept if it beats the frozen optimum."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from hnl_coffea.models import RegressionBackbone
from hnl_coffea.training.datasets import TRAIN, VALIDATION
from hnl_coffea.training.stages import ClassifierArrays, TrainingOptions
from hnl_coffea.training.transfer import FINE_TUNE, FROZEN, train_transfer, warmup_cosine


def _arrays(n: int = 4000, seed: int = 0) -> ClassifierArrays:
    """Signal: a narrow function of the raw inputs that a random backbone does not expose."""
    rng = np.random.default_rng(seed)
    raw = rng.normal(size=(n, 14)).astype(np.float32)
    label = (raw[:, 0] * raw[:, 4] + 0.3 * rng.normal(size=n) > 0).astype(np.float32)
    return ClassifierArrays(
        x=raw, raw=raw, channel=rng.integers(0, 5, n), charges=np.ones((n, 3), np.float32),
        mhyp=np.full(n, 300.0, np.float32), label=label, weight=np.ones(n, np.float32),
        split=rng.choice([0, 1, 2], n, p=[0.7, 0.2, 0.1]).astype(np.int8),
    )  # fmt: skip


def _val_loss(model, a: ClassifierArrays) -> float:
    """Validation BCE by hand (weights are 1): the mean over the validation events."""
    v = a.split == VALIDATION
    with torch.no_grad():
        logits = model.eval().logits(
            torch.as_tensor(a.raw[v]), torch.as_tensor(a.channel[v]),
            torch.as_tensor(a.charges[v]), torch.as_tensor(a.mhyp[v]),
        )  # fmt: skip
    return float(F.binary_cross_entropy_with_logits(logits, torch.as_tensor(a.label[v])))


OPTS = replace(
    TrainingOptions(progress=False, seed=5),
    transfer_hidden=(16, 16), transfer_epochs=4, transfer_finetune_epochs=6,
    transfer_warmup_epochs=1, transfer_finetune_lr=3e-3, batch_size=32,
)  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small networks train faster on one thread (and do not compete with other tests)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tuned():
    torch.manual_seed(0)
    backbone = RegressionBackbone(n_raw=14, n_outputs=4, width=16, depth=3)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    a = _arrays()
    model, staged = train_transfer(backbone, a, 5, OPTS, torch.device("cpu"))
    return backbone, before, a, model, staged


def test_unfreezing_changes_the_backbone(tuned):
    backbone, before, _, model, staged = tuned
    assert [s["stage"] for s in staged.stages] == [FROZEN, FINE_TUNE]
    assert staged.stages[0]["frozen"] == ["backbone"] and staged.stages[1]["frozen"] == []
    assert staged.stages[1]["backbone_dropout"] == OPTS.transfer_backbone_dropout
    assert staged.chosen == FINE_TUNE  # fine tuning helps on this sample
    # the pre-trained network passed in is untouched, the fine-tuned copy moved
    for k, v in backbone.state_dict().items():
        assert torch.equal(v, before[k])
    moved = max(
        float((a - b).abs().max())
        for a, b in zip(model.backbone.parameters(), backbone.parameters(), strict=True)
    )
    assert moved > 1e-3
    assert not model.frozen


def test_chosen_checkpoint_not_worse_than_frozen_optimum(tuned):
    _, _, a, model, staged = tuned
    frozen = staged.stage(FROZEN)["fit"]["best_val_loss"]
    got = _val_loss(model, a)  # recomputed on the returned network
    assert got == pytest.approx(staged.best_val_loss, rel=1e-5)
    assert got <= frozen
    assert staged.to_dict()["chosen_stage"] == FINE_TUNE


def test_frozen_optimum_kept_when_fine_tuning_cannot_improve():
    """A zero learning rate in fine tuning cannot beat the frozen optimum: the frozen head
    and the untouched backbone are kept."""
    torch.manual_seed(0)
    backbone = RegressionBackbone(n_raw=14, n_outputs=4, width=16, depth=3)
    a = _arrays(1000, seed=1)
    opts = replace(OPTS, transfer_finetune_lr=0.0, transfer_finetune_epochs=2)
    model, staged = train_transfer(backbone, a, 5, opts, torch.device("cpu"))
    assert staged.chosen == FROZEN and model.frozen
    for p, q in zip(model.backbone.parameters(), backbone.parameters(), strict=True):
        assert torch.equal(p, q)
    assert _val_loss(model, a) == pytest.approx(staged.stage(FROZEN)["fit"]["best_val_loss"])
    assert np.sum(a.split == TRAIN) > 0


def test_warmup_cosine_schedule():
    f = warmup_cosine(4, 12)
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert f(8) == pytest.approx(0.5) and f(12) == pytest.approx(0.0)
