import pytest

import argparse
from pathlib import Path

from cellseg_train.config import (
    DEFAULTS,
    ConfigError,
    add_opts_argument,
    apply_overrides,
    checkpoint_config_here,
    load_config,
)


def test_overrides_parse_values_as_yaml_and_leave_the_rest():
    config = apply_overrides(
        load_config(None), ["train.lr=0.01", "train.scale_jitter=[0.9, 1.1]", "model.fpn_channels=96"]
    )
    assert config["train"]["lr"] == 0.01
    assert config["train"]["scale_jitter"] == [0.9, 1.1]
    assert config["model"]["fpn_channels"] == 96
    assert config["train"]["crop"] == DEFAULTS["train"]["crop"]
    assert DEFAULTS["train"]["lr"] != 0.01  # the defaults themselves are untouched


@pytest.mark.parametrize(
    "opt, message",
    [
        ("train.no_such_key=1", r"unknown config key train.no_such_key; valid keys here: train.crop, .*train.lr,"),
        ("nosection.lr=1", r"unknown config key nosection; valid keys here: data, classes, input, model, train"),
        ("train.lr", r"key=value pairs .* got 'train.lr'"),
        ("=1", r"key=value pairs"),
        ("train=1", r"train is a section: name one of its keys"),
        ("train.lr.x=1", r"train.lr is a single setting"),
        ("train.lr=0.1 train.lr.x=1", r"train.lr is a single setting"),
        ("train.lr=fast", r"train.lr takes a number, got 'fast'"),
        ("train.autocast_bf16=1", r"train.autocast_bf16 takes true or false"),
        ("train.scale_jitter=[0.9", r"train.scale_jitter: '\[0.9' is not a YAML value"),
    ],
)
def test_unknown_keys_malformed_pairs_and_wrong_kinds_are_clear_errors(opt, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(load_config(None), opt.split())


def test_text_settings_take_the_text_as_written():
    config = apply_overrides(load_config(None), ["data.root=/data/2024", "data.layout=packed", "train.workers=4"])
    assert config["data"]["root"] == "/data/2024" and config["data"]["layout"] == "packed"
    assert apply_overrides(config, ["train.lr=1e-3"])["train"]["lr"] == 0.001  # YAML 1.1 reads this as text
    assert config["train"]["workers"] == 4 and config["train"]["autocast_bf16"] is True


def test_free_form_settings_take_any_cell_type():
    config = apply_overrides(load_config(None), ["postprocess.score_thresholds.cort=0.4"])
    assert config["postprocess"]["score_thresholds"] == {**DEFAULTS["postprocess"]["score_thresholds"], "cort": 0.4}


def test_base_then_file_then_opts_in_that_order(tmp_path):
    (tmp_path / "base.yaml").write_text("train:\n  crop: 640\n  lr: 0.5\n  workers: 3\n")
    (tmp_path / "run.yaml").write_text("_BASE_: base.yaml\ntrain:\n  lr: 0.25\n")
    parser = argparse.ArgumentParser()
    add_opts_argument(parser)
    # --opts may be given more than once (gpu_run.sh adds its own to the caller's); later pairs win.
    args = parser.parse_args(["--opts", "train.lr=0.1", "train.max_steps=5", "--opts", "train.lr=0.2"])
    config = apply_overrides(load_config(tmp_path / "run.yaml"), args.opts)
    train = config["train"]
    assert (train["crop"], train["workers"], train["lr"], train["max_steps"]) == (640, 3, 0.2, 5)
    assert train["batch_size"] == DEFAULTS["train"]["batch_size"]


def test_the_committed_configs_load():
    configs = Path(__file__).resolve().parents[1] / "configs"
    for path in sorted(configs.glob("*.yaml")):
        assert load_config(path)["model"] == DEFAULTS["model"] or path.name == "starter.yaml"


def test_an_unknown_key_in_a_file_is_an_error(tmp_path):
    (tmp_path / "bad.yaml").write_text("train:\n  learning_rate: 0.5\n")
    with pytest.raises(ConfigError, match="unknown config key train.learning_rate"):
        load_config(tmp_path / "bad.yaml")


def test_yaml_chain_overrides_the_defaults(tmp_path):
    (tmp_path / "base.yaml").write_text("train:\n  crop: 640\n  lr: 0.5\n")
    (tmp_path / "child.yaml").write_text("_BASE_: base.yaml\ntrain:\n  lr: 0.25\n")
    config = load_config(tmp_path / "child.yaml")
    assert (config["train"]["crop"], config["train"]["lr"]) == (640, 0.25)


def test_a_checkpoints_config_gets_this_machines_data_paths():
    foreign = apply_overrides(
        load_config(None), ["data.root=/elsewhere", "data.layout=packed", "data.val_split_file=/elsewhere/val.txt"]
    )
    local = checkpoint_config_here(foreign)
    assert local["data"]["root"] == DEFAULTS["data"]["root"]
    assert local["data"]["layout"] == "sartorius"
    assert local["data"]["val_split_file"] == DEFAULTS["data"]["val_split_file"]


def test_a_checkpoints_config_gets_todays_postprocessing_keys():
    old = load_config(None)
    old["postprocess"] = {"score_thresholds": {"cort": 0.9}, "nms_iou": 0.4}
    here = checkpoint_config_here(old)["postprocess"]
    assert "nms_iou" not in here
    assert here["score_thresholds"] == {"cort": 0.9}
    assert here["fusion_iou"] == DEFAULTS["postprocess"]["fusion_iou"]
