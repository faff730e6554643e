"""``nwb-sae train``: fit a sparse autoencoder on a recording and write checkpoints, history and figures."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from nwb_sae.baselines import METHODS
from nwb_sae.cli._common import add_data_options, add_flag, add_quiet_flag, data_options
from nwb_sae.cli._flags import add_config_flags, settings_from_args
from nwb_sae.config import ModelConfig, Settings, TrainConfig

ALIASES = {"n_latents": ["embedding_dim"], "l1_coefficient": ["sparsity_weight"], "lr": ["learning_rate"]}
"""The original design's flag names, kept working."""


def register(subparsers) -> None:
    """Add the ``train`` verb: one flag per field of ModelConfig and TrainConfig, plus the inputs."""
    p = subparsers.add_parser(
        "train", help="fit a sparse autoencoder (dictionary of neuron ensembles) on a recording",
        description="Fit a sparse autoencoder on DATA_PATH and write OUTPUT_DIR/checkpoints/best_model."
                    "safetensors (+ .json), OUTPUT_DIR/history.json, OUTPUT_DIR/metrics.json and "
                    "OUTPUT_DIR/figures/*.png.")
    add_flag(p, "data_path", required=True, help=".nwb, .h5, .npy, .npz or .nc shaped [neurons, time, presentations], "
                                                 "or the URL of an NWB file (https://, dandi://)")
    add_flag(p, "output_dir", required=True, help="folder for checkpoints, history and figures")
    add_training_flags(p)
    p.set_defaults(func=run)


def add_training_flags(parser: argparse.ArgumentParser) -> None:
    """Every ``train`` flag but the input and output: ``--method``, one per field of ModelConfig and TrainConfig
    (generated, see :mod:`nwb_sae.cli._flags`), ``--resume``, ``--no_figures``, ``--quiet`` and the
    NWB / HDF5 input options. ``batch`` adds the same, so both verbs always take the same settings."""
    add_flag(parser, "method", choices=METHODS, default="sae",
             help="sae (the sparse autoencoder, every flag below applies), or the field's baselines to compare "
                  "like for like: ica (PCA/ICA assemblies, Lopes-dos-Santos 2013) or nmf; those take --seed and "
                  "--embedding_dim (their number of components, default: the Marchenko-Pastur count), write "
                  "metrics.json, the dictionary and code figures and OUTPUT_DIR/checkpoints/best_model.safetensors "
                  "(+ .json) holding their patterns and latent table, but no history (they do not train by "
                  "epochs) and their model is read back with nwb_sae.baselines, not nwb_sae.load; batch runs sae only "
                  "[default: sae]")
    add_flag(parser, "resume", action="store_true", help="continue an interrupted run in OUTPUT_DIR")
    add_flag(parser, "no_figures", action="store_true", help="skip the figures")
    add_flag(parser, "lazy", action="store_true",
             help="NWB input: keep the recording lazy (windows read only when trained on) whatever its size; "
                  "without it, a recording over 128 MiB of float32 samples is lazy and a smaller one is read "
                  "into memory. A lazy recording over 128 MiB is streamed block by block for topk / relu, and "
                  "the default ensemble fit runs on a random subsample of its presentations of that size")
    add_config_flags(parser, ModelConfig, TrainConfig, aliases=ALIASES)
    add_quiet_flag(parser)
    add_data_options(parser)


def run(args: argparse.Namespace) -> int:
    """Train and write the outputs."""
    from nwb_sae.errors import InputDataError
    from nwb_sae.estimator import SAE
    from nwb_sae.io import load_data
    from nwb_sae.io.jsonable import write_json
    from nwb_sae.training import streaming
    from nwb_sae.training.streaming import should_stream
    from nwb_sae.viz.report import save_training_figures

    settings = settings_from_args(args, ModelConfig, TrainConfig)
    try:
        Settings.from_flat(**settings)  # checks them before any data is read
    except (TypeError, ValueError) as err:
        raise InputDataError(f"invalid settings: {err}") from err
    front_end = {k: settings.get(k) for k in ("preprocess", "decay_time")}  # before windowing, where it applies
    data = load_data(args.data_path, lazy=True if args.lazy else None, **data_options(args), **front_end)
    out = Path(args.output_dir)
    if getattr(args, "method", "sae") != "sae":
        return run_baseline(args.method, settings, data, out, figures=not args.no_figures)
    sae = SAE(**settings)
    print(f"training on {args.data_path}: {data.sizes['neurons']} neurons x {data.sizes['time']} time bins "
          f"x {data.sizes['presentations']} presentations -> {sae}")
    # the data are checked by fit before anything is written to the output folder
    sae.fit(data, checkpoint_dir=out / "checkpoints", resume=args.resume)
    if int(os.environ.get("RANK", "0")) != 0:  # torchrun: rank 0 writes the outputs
        return 0
    write_json(out / "history.json", sae.history_)
    write_json(out / "metrics.json", sae.metrics_)
    attrs = sae.data_attrs_
    if attrs.get("subsample"):  # the ensemble fit of a large recording
        unit = "of" if attrs["subsample_unit"] == "presentations" else f"{attrs['subsample_unit']} from"
        print(f"the ensemble fit ran on a random subsample of {attrs['subsample_samples']} of "
              f"{attrs['recording_samples']} samples ({attrs['subsample_presentations']} {unit} "
              f"{attrs['recording_presentations']} presentations), to fit in {streaming.IN_MEMORY_BYTES / 2**20:g} MiB")
    if args.no_figures:
        pass
    elif should_stream(data):  # the other figures would encode the whole recording at once
        from nwb_sae.viz.training import plot_history

        (out / "figures").mkdir(parents=True, exist_ok=True)
        plot_history(sae.history_, path=out / "figures" / "history.png")
    else:
        save_training_figures(sae, data, out / "figures")
    best = out / "checkpoints" / "best_model.safetensors"
    m = sae.metrics_
    print(f"best epoch {m['best_epoch']}: validation FVU {m['fvu']:.3f}, L0 {m['l0']:.1f}, "
          f"dead {m['dead_fraction']:.1%}; {m['significant_latents']} of {sae.model_.n_latents} latents "
          "significant ensembles")
    print(f"model: {best}")
    return 0


def run_baseline(method: str, settings: dict, data, out: Path, figures: bool = True) -> int:
    """Fit a baseline (``ica`` / ``nmf``) and write its metrics, patterns and figures."""
    import numpy as np
    import torch

    from nwb_sae.baselines import make_method
    from nwb_sae.fitting.state import latent_table_json
    from nwb_sae.io.jsonable import write_json
    from nwb_sae.training.checkpoint import save_checkpoint
    from nwb_sae.viz import plot_code_statistics, plot_dictionary

    model = make_method(method, n_components=settings.get("n_latents"), seed=settings.get("seed", 0))
    print(f"fitting {model} on {data.sizes['neurons']} neurons x {data.sizes['time']} time bins "
          f"x {data.sizes['presentations']} presentations")
    codes = model.fit(data).encode(data)
    metrics = {"method": method, "n_latents": int(model.n_latents),
               "significant_latents": int(np.sum(model.significant_)), "n_neurons": int(data.sizes["neurons"])}
    write_json(out / "metrics.json", metrics)
    best = save_checkpoint(out / "checkpoints" / "best_model",
                           {"components": torch.from_numpy(np.ascontiguousarray(model.components_, dtype=np.float32))},
                           {"format": f"nwb-sae/baseline-{method}", "method": method, "settings": model.get_params(),
                            "metrics": metrics, "latent_table": latent_table_json(model.latent_table_)})
    if figures:
        folder = out / "figures"
        folder.mkdir(parents=True, exist_ok=True)
        plot_dictionary(model.dictionary, neuron_labels=data["neurons"].values, path=folder / "dictionary.png")
        plot_code_statistics(codes, path=folder / "code_statistics.png")
    print(f"{model.n_latents} {method} components; patterns: {best}")
    return 0
