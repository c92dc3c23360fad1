"""ARW: pair weights are w_i + w_j and normalised; the adversary's ascent raises the loss."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from steps.sv.arw import ArwConf, PairAdversary, SampleAdversary, adversary_step, build_adversary, normalise
from steps.sv.losses import PairScorer, batch_pairs, pair_losses, weighted_pair_loss
from steps.utils import FairstreamError

REPO = Path(__file__).resolve().parents[1]


def _batch(seed: int = 0, speakers: int = 6, per: int = 3, dim: int = 16):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(speakers).repeat_interleave(per)
    centres = torch.randn(speakers, dim, generator=g)
    emb = centres[labels] + 0.8 * torch.randn(len(labels), dim, generator=g)
    cluster = labels % 3
    return emb, labels, cluster


def test_sample_weights_normalised_and_pair_weight_is_sum() -> None:
    torch.manual_seed(0)
    emb, labels, cluster = _batch()
    adv = SampleAdversary(emb.shape[1], 3, 8, floor=0.5)
    w = adv.sample_weights(emb, cluster)
    assert torch.all(w >= 0.5 - 1e-6)
    assert w.mean().item() == pytest.approx(1.0, abs=1e-6)
    i, j, _ = batch_pairs(labels)
    p = adv(emb, cluster, i, j)
    assert torch.allclose(p, w[i] + w[j])
    # sum over all pairs is fixed by the normalisation: (B - 1) * sum(w)
    assert p.sum().item() == pytest.approx((len(labels) - 1) * len(labels), rel=1e-5)


def test_normalise_and_pair_adversary() -> None:
    a = torch.tensor([0.1, 0.9, 0.5, 0.5])
    w = normalise(a, 0.25)
    assert w.mean().item() == pytest.approx(1.0) and w.min().item() >= 0.25
    emb, labels, cluster = _batch(1)
    i, j, _ = batch_pairs(labels)
    p = PairAdversary(emb.shape[1], 3, 8, floor=0.5)(emb, cluster, i, j)
    assert p.mean().item() == pytest.approx(2.0, abs=1e-5) and p.min().item() >= 1.0 - 1e-6
    # symmetric in the two sides of a pair
    q = PairAdversary.forward(PairAdversary(emb.shape[1], 3, 8, 0.5), emb, cluster, j, i)
    assert q.shape == p.shape


@pytest.mark.parametrize("variant", ["pairwise_sum", "pair_direct"])
def test_adversary_ascent_increases_weighted_loss(variant: str) -> None:
    """Toy problem: some speakers are much harder (noisier); the adversary must learn to weight
    them up, so the weighted loss under its weights rises above the uniform-weight loss."""
    torch.manual_seed(0)
    emb, labels, cluster = _batch(2, speakers=8, per=4)
    hard = labels < 3
    emb = emb + hard[:, None] * 3.0 * torch.randn(emb.shape, generator=torch.Generator().manual_seed(5))
    i, j, same = batch_pairs(labels)
    losses = pair_losses(emb, i, j, same, PairScorer()).detach()
    adv = build_adversary(
        ArwConf(variant=variant, num_clusters=3, hidden_dim=16, weight_floor=0.2), emb.shape[1]
    )
    opt = torch.optim.Adam(adv.parameters(), lr=0.05)
    first = adversary_step(adv, opt, emb, cluster, i, j, same, losses)
    for _ in range(60):
        last = adversary_step(adv, opt, emb, cluster, i, j, same, losses)
    uniform = weighted_pair_loss(losses, None, same).item()
    assert last > first + 1e-3
    assert last > uniform
    if variant == "pairwise_sum":
        w = adv.sample_weights(emb, cluster)
        assert w[hard].mean() > w[~hard].mean()


def test_variant_none_has_no_adversary_and_bad_variant_fails() -> None:
    assert build_adversary(ArwConf(variant="none"), 16) is None
    with pytest.raises(FairstreamError, match="arw.variant"):
        ArwConf(variant="bogus")


def test_variant_configs_differ_only_in_variant() -> None:
    """Baseline and ARW share the recipe and the number of steps."""
    confs = {
        v: yaml.safe_load((REPO / f"conf/sv/{v}.yaml").read_text())
        for v in ("none", "pairwise_sum", "pair_direct")
    }
    for c in confs.values():
        c["arw"].pop("variant")
    assert confs["none"] == confs["pairwise_sum"] == confs["pair_direct"]


def test_pair_loss_balance_by_hand() -> None:
    losses = torch.tensor([1.0, 3.0, 2.0, 2.0, 6.0])
    same = torch.tensor([True, True, False, False, False])
    w = torch.tensor([1.0, 3.0, 1.0, 1.0, 2.0])
    # joint: one weighted mean over every pair; per_class: mean of the two classes' weighted means
    assert weighted_pair_loss(losses, w, same, "joint").item() == pytest.approx((1 + 9 + 2 + 2 + 12) / 8)
    per = ((1 + 9) / 4 + (2 + 2 + 12) / 4) / 2
    assert weighted_pair_loss(losses, w, same, "per_class").item() == pytest.approx(per)
    assert weighted_pair_loss(losses, None, same, "joint").item() == pytest.approx(14 / 5)
    with pytest.raises(ValueError, match="balance must be one of"):
        weighted_pair_loss(losses, w, same, "pairs")
