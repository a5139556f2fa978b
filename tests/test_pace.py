"""The speed probe and the estimates made from it: seconds per step per working megapixel, scaled by pixels and steps."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import tiny_backbone

from stylecloak.cloak.pace import batch_seconds, duration_words, probe, view_share, work_megapixels
from stylecloak.config import CloakSettings


def test_probe_measures_a_positive_pace_without_touching_the_backbone():
    bb = tiny_backbone("taef2")
    before = {k: v.clone() for k, v in bb.state_dict().items()}
    rate = probe([bb], CloakSettings(precision="fp32"), torch.device("cpu"), side=40)
    assert math.isfinite(rate) and rate > 0
    assert all(torch.equal(v, before[k]) and bb.get_parameter(k).grad is None for k, v in bb.state_dict().items() if k in dict(bb.named_parameters()))


def test_view_share_counts_the_pixels_each_step_shows_the_encoder():
    s = CloakSettings(work_size=1024, view_sizes=(512, 1024))
    assert view_share(s) == pytest.approx((0.25 + 1) / 2)
    assert view_share(CloakSettings(work_size=1024, view_sizes=(512, 1024), view_order="all")) == pytest.approx(1.25)
    assert view_share(CloakSettings(work_size=1024, view_sizes=(512, 1024), view_weights=(3.0, 1.0))) == pytest.approx((3 * 0.25 + 1) / 4)
    assert view_share(CloakSettings(work_size=512, view_sizes=())) == 1.0


def test_estimate_scales_with_working_pixels_and_steps():
    s = CloakSettings(work_size=1024, steps=20)
    one = batch_seconds([(1024, 512)], s, rate=2.0)
    assert one == pytest.approx(20 * 0.524288 * 2.0)
    assert batch_seconds([(1024, 512)] * 3, s, rate=2.0) == pytest.approx(3 * one)
    assert batch_seconds([(512, 256)], s, rate=2.0) == pytest.approx(one / 4)
    assert batch_seconds([(4096, 2048)], s, rate=2.0) == pytest.approx(one)  # brought down to the working size first
    assert batch_seconds([(1024, 512)], CloakSettings(work_size=1024, steps=50), rate=2.0) == pytest.approx(2.5 * one)
    assert work_megapixels(2048, 1024, None) == pytest.approx(2.097152)


def test_durations_read_as_people_say_them():
    assert duration_words(0.2) == "about 1 s" and duration_words(42.4) == "about 42 s" and duration_words(725) == "about 12 min"
