"""``nwb-sae train``: fit a sparse autoencoder on a recording and write checkpoints, history and figures."""

from __future__ import annotations

import argparse
from pathlib import Path

from nwb_sae.cli._common import add_data_options, add_flag, data_options
from nwb_sae.config import ACTIVATIONS, NORMALIZATIONS, ModelConfig, TrainConfig


def register(subparsers) -> None:
    """Add the ``train`` verb."""
    m, t = ModelConfig(), TrainConfig()
    p = subparsers.add_parser(
        "train", help="fit a sparse autoencoder (dictionary of neuron ensembles) on a recording",
        description="Fit a sparse autoencoder on DATA_PATH and write OUTPUT_DIR/checkpoints/best_model."
                    "safetensors (+ .json), OUTPUT_DIR/history.json, OUTPUT_DIR/metrics.json and "
                    "OUTPUT_DIR/figures/*.png.")
    add_flag(p, "data_path", required=True, help=".nwb, .h5, .npy, .npz or .nc shaped [neurons, time, presentations]")
    add_flag(p, "output_dir", required=True, help="folder for checkpoints, history and figures")
    add_flag(p, "embedding_dim", type=int, default=m.n_latents, help="number of latents (dictionary atoms)")
    add_flag(p, "activation", choices=ACTIVATIONS, default=m.activation,
             help="topk (default), batchtopk, or relu with an L1 penalty (the original design)")
    add_flag(p, "k", type=int, default=m.k, help="active latents per sample for topk/batchtopk")
    add_flag(p, "sparsity_weight", type=float, default=m.l1_coefficient, help="L1 weight for relu")
    add_flag(p, "normalize", choices=NORMALIZATIONS, default=m.normalize, help="input normalisation")
    add_flag(p, "epochs", type=int, default=t.epochs, help="maximum epochs (early stopping ends sooner)")
    add_flag(p, "batch_size", type=int, default=t.batch_size,
             help="samples per step (default: up to 4096, at least 32 steps per epoch)")
    add_flag(p, "learning_rate", type=float, default=None, help="Adam learning rate (default: by activation)")
    add_flag(p, "val_fraction", type=float, default=t.val_fraction, help="presentations held out")
    add_flag(p, "patience", type=int, default=t.patience, help="epochs without improvement before stopping")
    add_flag(p, "seed", type=int, default=t.seed, help="random seed")
    add_flag(p, "device", default=t.device, help="auto, cpu, cuda, cuda:1, ...")
    add_flag(p, "resume", action="store_true", help="continue an interrupted run in OUTPUT_DIR")
    add_flag(p, "no_figures", action="store_true", help="skip the figures")
    add_flag(p, "quiet", action="store_true", help="no progress bar")
    add_data_options(p)
    p.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace) -> dict:
    """SAE settings from the parsed flags."""
    return dict(n_latents=args.embedding_dim, activation=args.activation, k=args.k,
                l1_coefficient=args.sparsity_weight, normalize=args.normalize, epochs=args.epochs,
                batch_size=args.batch_size, lr=args.learning_rate, val_fraction=args.val_fraction,
                patience=args.patience, seed=args.seed, device=args.device, progress=not args.quiet)


def run(args: argparse.Namespace) -> int:
    """Train and write the outputs."""
    from nwb_sae.errors import InputDataError
    from nwb_sae.estimator import SAE
    from nwb_sae.io import load_data
    from nwb_sae.io.jsonable import write_json

    try:
        sae = SAE(**settings_from_args(args))
    except (TypeError, ValueError) as err:
        raise InputDataError(f"invalid settings: {err}") from err
    data = load_data(args.data_path, **data_options(args))
    out = Path(args.output_dir)
    print(f"training on {args.data_path}: {data.sizes['neurons']} neurons x {data.sizes['time']} time bins "
          f"x {data.sizes['presentations']} presentations -> {sae}")
    # the data are checked by fit before anything is written to the output folder
    sae.fit(data, checkpoint_dir=out / "checkpoints", resume=args.resume)
    write_json(out / "history.json", sae.history_)
    write_json(out / "metrics.json", sae.metrics_)
    if not args.no_figures:
        write_training_figures(sae, data, out / "figures")
    best = out / "checkpoints" / "best_model.safetensors"
    m = sae.metrics_
    print(f"best epoch {m['best_epoch']}: validation FVU {m['fvu']:.3f}, L0 {m['l0']:.1f}, "
          f"dead {m['dead_fraction']:.1%}")
    print(f"model: {best}")
    return 0


def write_training_figures(sae, data, folder: Path) -> list[Path]:
    """History, reconstructions, dictionary atoms and code statistics as PNG files."""
    from nwb_sae import viz

    folder.mkdir(parents=True, exist_ok=True)
    codes = sae.encode(data)
    recon = sae.decode(codes)
    order = codes.mean(dim=("time", "presentations")).values.argsort()[::-1]
    paths = [folder / name for name in ("history.png", "reconstructions.png", "dictionary.png",
                                        "code_statistics.png")]
    viz.plot_history(sae.history_, path=paths[0])
    viz.plot_reconstructions(data, recon, path=paths[1])
    labels = sae.neuron_coords.get("id")
    viz.plot_dictionary(sae.dictionary, order=order, neuron_labels=labels, path=paths[2])
    viz.plot_code_statistics(codes, path=paths[3])
    return paths
