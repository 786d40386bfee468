"""clip_loss, FedAID's bind_loss and MOON's model_contrastive: hand-computed values, symmetry, masking, purity."""

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from fedaid_lite.losses import bind_loss, clip_loss, model_contrastive


def test_two_pair_value_matches_hand_computation():
    # logits = I: each row's softmax puts e/(e+1) on the diagonal, so CE = log(1 + e^-1) both ways.
    # If this fails, the loss is not the mean of the two cross-entropies.
    eye = torch.eye(2)
    assert torch.isclose(clip_loss(eye, eye, 1.0), torch.tensor(math.log(1 + math.exp(-1))))


def test_directions_are_averaged_not_summed():
    # An asymmetric 2x2 case where i->t and t->i differ: the loss must be their mean.
    img = F.normalize(torch.tensor([[1.0, 0.0], [0.6, 0.8]]), dim=-1)
    txt = F.normalize(torch.tensor([[1.0, 0.2], [0.0, 1.0]]), dim=-1)
    logits = 3.0 * img @ txt.T
    labels = torch.arange(2)
    expected = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    assert torch.isclose(clip_loss(img, txt, 3.0), expected)


def test_loss_is_symmetric_in_the_modalities():
    # Swapping images and texts swaps the two directions; a one-sided loss would fail here.
    g = torch.Generator().manual_seed(0)
    a = F.normalize(torch.randn(8, 5, generator=g), dim=-1)
    b = F.normalize(torch.randn(8, 5, generator=g), dim=-1)
    assert torch.isclose(clip_loss(a, b, 10.0), clip_loss(b, a, 10.0))


def test_scale_zero_gives_log_batch_size():
    # With all logits equal, each softmax is uniform: CE = log B. Catches a wrong normalisation.
    g = torch.Generator().manual_seed(1)
    a = F.normalize(torch.randn(6, 4, generator=g), dim=-1)
    assert torch.isclose(clip_loss(a, a.flip(0), 0.0), torch.tensor(math.log(6)))


def test_duplicate_reports_are_not_negatives():
    # Rows 0 and 1 carry the same report text (same embedding): unmasked, each image splits its
    # probability between the two copies (loss log 2 at high scale); masked, only the diagonal remains.
    img = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    txt = img.clone()
    ids = torch.tensor([7, 7, 3])
    unmasked = clip_loss(img, txt, 50.0)
    masked = clip_loss(img, txt, 50.0, text_ids=ids)
    assert unmasked > 0.4
    assert masked < 1e-6


def test_masking_keeps_gradients_finite():
    # -inf logits must drop out of the softmax without producing NaN gradients.
    img = F.normalize(torch.randn(4, 3), dim=-1).requires_grad_()
    txt = F.normalize(torch.randn(4, 3), dim=-1)
    clip_loss(img, txt, 5.0, text_ids=torch.tensor([0, 0, 1, 1])).backward()
    assert torch.isfinite(img.grad).all()


def test_losses_module_is_pure():
    # losses.py must import nothing from the package (open_clip's loss.py is our model).
    src = (Path(__file__).parents[1] / "fedaid_lite" / "losses.py").read_text()
    assert "fedaid_lite" not in src and "from ." not in src


def test_bind_loss_is_the_mean_squared_distance_of_both_modalities():
    # If this fails, FedAID's binding term is not mean_i(|z_v - z̄_v|² + |z_t - z̄_t|²) (docs/fedaid.md).
    img, txt = F.normalize(torch.randn(4, 3), dim=-1), F.normalize(torch.randn(4, 3), dim=-1)
    assert float(bind_loss(img, txt, img, txt)) == 0.0
    shifted = bind_loss(img, txt, img + 0.5, txt)
    assert float(shifted) == pytest.approx(3 * 0.25)                 # 3 dims x 0.5², image side only


def test_model_contrastive_picks_the_positive():
    # If this fails, MOON's term pulls the local model toward its previous model instead of the global one.
    z = F.normalize(torch.randn(5, 4), dim=-1)
    near, far = model_contrastive(z, z, -z, 0.5), model_contrastive(z, -z, z, 0.5)
    assert float(near) < math.log(2) < float(far)
    assert float(model_contrastive(z, z, z, 0.5)) == pytest.approx(math.log(2))   # no preference: log 2
