"""CLI flags generated from the settings dataclasses: every field, its docstring, its type, the aliases."""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys

import pytest

from nwb_sae import SAE
from nwb_sae.cli import build_parser
from nwb_sae.cli._flags import add_config_flags, field_docs, settings_from_args
from nwb_sae.config import ModelConfig, TrainConfig

ALL_FIELDS = [f for cls in (ModelConfig, TrainConfig) for f in dataclasses.fields(cls)]


def parse(*argv):
    return build_parser().parse_args(["train", "--data_path", "x.npy", "--output_dir", "out", *argv])


def test_train_help_lists_every_setting_in_both_spellings_with_its_docstring():
    text = subprocess.run([sys.executable, "-m", "nwb_sae", "train", "--help"], capture_output=True, text=True,
                          check=True, env={**os.environ, "COLUMNS": "400"}).stdout
    docs = {**field_docs(ModelConfig), **field_docs(TrainConfig)}
    for f in ALL_FIELDS:
        assert f"--{f.name}" in text and f"--{f.name.replace('_', '-')}" in text, f.name
        assert docs[f.name] in text, f.name
    for alias in ("--embedding_dim", "--sparsity_weight", "--learning_rate", "--learning-rate", "--quiet"):
        assert alias in text


def test_defaults_are_the_config_defaults():
    settings = settings_from_args(parse(), ModelConfig, TrainConfig)
    assert settings == {f.name: f.default for f in ALL_FIELDS}
    assert SAE(**settings).get_params() == SAE().get_params()


def test_original_names_hyphens_optional_numbers_and_booleans():
    args = parse("--embedding_dim", "64", "--sparsity-weight", "0.1", "--learning_rate", "1e-3",
                 "--batch-size", "none", "--threads", "2", "--aux-coefficient", "0.5", "--no-progress")
    s = settings_from_args(args, ModelConfig, TrainConfig)
    assert (s["n_latents"], s["l1_coefficient"], s["lr"]) == (64, 0.1, 1e-3)
    assert (s["batch_size"], s["threads"], s["aux_coefficient"], s["progress"]) == (None, 2, 0.5, False)
    assert parse("--quiet").progress is False and parse("--progress").progress is True
    assert parse("--batch_size", "128").batch_size == 128


def test_bad_values_are_refused_by_argparse(capsys):
    for argv in (["--activation", "gelu"], ["--k", "three"], ["--threads", "many"]):
        with pytest.raises(SystemExit):
            parse(*argv)
    assert "invalid choice: 'gelu'" in capsys.readouterr().err


def test_a_new_dataclass_gets_flags_for_free():
    @dataclasses.dataclass
    class Extra:
        """Settings a future verb may add."""

        shuffle: bool = False
        """Shuffle the sessions first."""
        limit: float | None = None
        """Stop after this many seconds (100% of the budget when none)."""
        name: str = "run"
        """Name of the run."""

    parser = argparse.ArgumentParser()
    add_config_flags(parser, Extra, aliases={"limit": ["budget"]})
    help_text = parser.format_help()
    assert "Shuffle the sessions first." in help_text and "100% of the budget" in help_text
    args = parser.parse_args(["--shuffle", "--budget", "2.5", "--name", "x"])
    assert settings_from_args(args, Extra) == {"shuffle": True, "limit": 2.5, "name": "x"}
    assert settings_from_args(parser.parse_args([]), Extra) == {"shuffle": False, "limit": None, "name": "run"}


def test_inference_takes_the_runtime_settings_only():
    args = build_parser().parse_args(["inference", "--data_path", "x", "--model_path", "m", "--device", "cpu",
                                      "--threads", "1", "--quiet", "--batch_size", "7"])
    assert (args.device, args.threads, args.progress, args.batch_size) == ("cpu", 1, False, 7)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["inference", "--data_path", "x", "--model_path", "m", "--k", "3"])


def test_batch_takes_every_train_flag():
    verbs = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    flags = {verb: {s for a in verbs[verb]._actions for s in a.option_strings} for verb in ("train", "batch")}
    assert flags["train"] <= flags["batch"]
    assert flags["batch"] - flags["train"] == {"--workers", "--scheduler"}
    argv = ["--embedding-dim", "16", "--k", "3", "--no-progress", "--presentations", "trials", "--window", "0,1"]
    train = parse(*argv)
    batch = build_parser().parse_args(["batch", "--data_path", "a.nwb", "b.nwb", "--output_dir", "out", *argv])
    assert batch.data_path == ["a.nwb", "b.nwb"]
    assert settings_from_args(batch, ModelConfig, TrainConfig) == settings_from_args(train, ModelConfig, TrainConfig)
    assert (batch.presentations, batch.window) == ("trials", (0.0, 1.0))
