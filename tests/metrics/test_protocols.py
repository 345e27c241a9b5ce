"""Named metric protocols: the presets of docs/protocols.md and the lookup errors."""

import dataclasses

import pytest

from irsde.metrics import PROTOCOLS, MetricProtocol, get_protocol


@pytest.mark.parametrize(
    "name, crop_border, y_channel, lpips_on_float",
    [
        ("irsde-derain", 4, True, True),
        ("irsde-deblur", 4, False, True),
        ("irsde-denoise", 0, False, True),
        ("rgb-full", 0, False, False),
    ],
)
def test_presets_follow_the_design(name, crop_border, y_channel, lpips_on_float):
    protocol = get_protocol(name)
    assert (protocol.name, protocol.crop_border, protocol.y_channel, protocol.lpips_on_float) == (
        name, crop_border, y_channel, lpips_on_float,
    )
    assert protocol.clamp is True


def test_exactly_the_named_presets_exist():
    assert sorted(PROTOCOLS) == ["irsde-deblur", "irsde-denoise", "irsde-derain", "irsde-derain-nocrop",
                                 "irsde-derain-truncate", "prenet-matlab", "rgb-full"]


def test_unknown_protocol_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown metric protocol 'derain'.*irsde-derain.*rgb-full"):
        get_protocol("derain")


def test_protocols_are_frozen_records_and_pass_through():
    protocol = get_protocol("irsde-derain")
    with pytest.raises(dataclasses.FrozenInstanceError):
        protocol.crop_border = 0
    custom = MetricProtocol("custom", 2, True, False, "a test protocol")
    assert get_protocol(custom) is custom


def test_caption_states_name_channel_crop_and_lpips_input():
    caption = get_protocol("irsde-derain").caption()
    assert "irsde-derain" in caption and "Y (BT.601)" in caption and "crop 4px" in caption
    assert "unclamped float" in caption
    assert "no crop" in get_protocol("rgb-full").caption() and "uint8 PNG" in get_protocol("rgb-full").caption()
