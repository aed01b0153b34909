import pytest

from cellseg_train.train import learning_rate

TRAIN = {"lr": 0.1, "lr_floor": 0.02}


def test_warmup_then_cosine_to_the_floor():
    assert learning_rate(TRAIN, 0, 10, 0.0) == pytest.approx(0.01)
    assert learning_rate(TRAIN, 9, 10, 0.0) == pytest.approx(0.1)
    assert learning_rate(TRAIN, 50, 10, 0.5) == pytest.approx(0.1 * (0.02 + 0.98 * 0.5))
    assert learning_rate(TRAIN, 99, 10, 1.0) == pytest.approx(0.002)
    assert learning_rate(TRAIN, 120, 10, 1.3) == pytest.approx(0.002)  # past the budget: stays at the floor


def test_every_run_restarts_the_same_way():
    # The schedule depends on the run's own step and progress only, not on the restored step.
    assert [learning_rate(TRAIN, s, 5, s / 100) for s in range(100)] == [
        learning_rate(TRAIN, s, 5, s / 100) for s in range(100)
    ]
