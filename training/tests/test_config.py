import pytest

from cellseg_train.config import DEFAULTS, apply_overrides, load_config, checkpoint_config_here


def test_overrides_parse_values_as_yaml_and_leave_the_rest():
    config = apply_overrides(load_config(None), ["train.lr=0.01", "train.scale_jitter=[0.9, 1.1]", "model.fpn_channels=96"])
    assert config["train"]["lr"] == 0.01
    assert config["train"]["scale_jitter"] == [0.9, 1.1]
    assert config["model"]["fpn_channels"] == 96
    assert config["train"]["crop"] == DEFAULTS["train"]["crop"]
    assert DEFAULTS["train"]["lr"] != 0.01  # the defaults themselves are untouched


@pytest.mark.parametrize("opt", ["train.no_such_key=1", "nosection.lr=1", "train.lr"])
def test_unknown_keys_and_malformed_pairs_are_errors(opt):
    with pytest.raises((KeyError, ValueError)):
        apply_overrides(load_config(None), [opt])


def test_yaml_chain_overrides_the_defaults(tmp_path):
    (tmp_path / "base.yaml").write_text("train:\n  crop: 640\n  lr: 0.5\n")
    (tmp_path / "child.yaml").write_text("_BASE_: base.yaml\ntrain:\n  lr: 0.25\n")
    config = load_config(tmp_path / "child.yaml")
    assert (config["train"]["crop"], config["train"]["lr"]) == (640, 0.25)


def test_a_checkpoints_config_gets_this_machines_data_paths():
    foreign = apply_overrides(load_config(None), ["data.root=/elsewhere", "data.layout=packed", "data.val_split_file=/elsewhere/val.txt"])
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
