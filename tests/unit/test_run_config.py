"""The run-config table shown in the HTML report."""

from ntk_phases.config import flatten


def test_flatten_gives_one_row_per_leaf_with_dotted_keys():
    cfg = {
        "run": "test",
        "kernels": {"activations": ["erf"], "architectures": {"fcn": {"n_train": 32}}},
        "metrics": {"rcond": None},
        "empty": {},
    }
    assert flatten(cfg) == [
        ("empty", "{}"),
        ("kernels.activations", '["erf"]'),
        ("kernels.architectures.fcn.n_train", "32"),
        ("metrics.rcond", "null"),
        ("run", "test"),
    ]
