"""``nwb-sae inference``: encode a recording with a trained model; write codes, metrics and figures."""

from __future__ import annotations

import argparse
from pathlib import Path

from nwb_sae.cli._common import add_data_options, add_flag, add_quiet_flag, data_options
from nwb_sae.cli._flags import add_config_flags
from nwb_sae.config import TrainConfig

INFERENCE_SETTINGS = ("device", "threads", "progress")
"""The training settings that also apply to encoding a recording with a trained model."""


def register(subparsers) -> None:
    """Add the ``inference`` verb."""
    p = subparsers.add_parser(
        "inference", help="encode a recording with a trained model",
        description="Encode DATA_PATH with the model at MODEL_PATH. Writes OUTPUT_DIR/codes.nc "
                    "(dims latents, time, presentations), reconstructions.nc, metrics.json and figures; "
                    "with --nwb_out (or --in_place) also the codes and dictionary as an NWB processing module.")
    add_flag(p, "data_path", required=True, help=".nwb, .h5, .npy, .npz or .nc")
    add_flag(p, "model_path", required=True, help="checkpoint written by `nwb-sae train` (.safetensors)")
    add_flag(p, "output_dir", default="./inference_results", help="folder for codes, metrics and figures")
    add_flag(p, "batch_size", type=int, default=16384,
             help="population vectors encoded and decoded at once (bounds memory, not the result)")
    add_flag(p, "num_samples", type=int, default=5, help="presentations to draw in the figures")
    group = p.add_argument_group("NWB output")
    add_flag(group, "nwb_out", default=None,
             help="write a new NWB file: the source with the results module added")
    add_flag(group, "in_place", action="store_true",
             help="add the results module to DATA_PATH itself (atomic: a copy is written, validated, then swapped in)")
    add_flag(group, "overwrite", action="store_true", help="replace an existing results module / output file")
    add_flag(group, "module", default="sae", help="name of the processing module (default: sae)")
    add_config_flags(p, TrainConfig, only=INFERENCE_SETTINGS)
    add_quiet_flag(p)
    add_data_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Encode, then write the outputs (nothing is written before the inputs are checked)."""
    import torch

    from nwb_sae import metrics
    from nwb_sae.estimator import load
    from nwb_sae.io import load_data
    from nwb_sae.io.jsonable import write_json
    from nwb_sae.io.netcdf import write_netcdf
    from nwb_sae.preprocess import apply_preprocessing
    from nwb_sae.samples import population_vectors
    from nwb_sae.viz.report import save_inference_figures

    if args.threads:
        torch.set_num_threads(args.threads)
    sae = load(args.model_path, device=args.device)
    opts = data_options(args)
    if args.nwb_out or args.in_place:  # refuse before any work, not after the figures are written
        from nwb_sae.io.results.write import check_output

        check_output(args.data_path, args.nwb_out, module=args.module, in_place=args.in_place,
                     overwrite=args.overwrite, activity=opts.get("activity"))
    data = sae.select_neurons(load_data(args.data_path, **opts))  # the model's neurons, by id
    # the model reconstructs what it was fitted on: the front end's output (deconvolved traces for
    # fluorescence), so the FVU compares with that, not the raw traces; marked as preprocessed, it is
    # not deconvolved again by encode
    data = apply_preprocessing(data, getattr(sae, "preprocessing_", None))
    codes = sae.encode(data, batch_size=args.batch_size)  # checks neurons and NaNs before any writing
    recon = sae.decode(codes, batch_size=args.batch_size).assign_coords(
        {n: c for n, c in data.coords.items() if c.dims == ("neurons",)})
    x = population_vectors(data)
    flat_codes = codes.transpose("presentations", "time", "latents").values.reshape(x.shape[0], -1)
    summary = {"data_path": str(args.data_path), "model_path": str(args.model_path),
               **metrics.code_report(x, population_vectors(recon), flat_codes), "n_samples": int(x.shape[0])}

    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_netcdf(codes, out / "codes.nc")
    write_netcdf(recon, out / "reconstructions.nc")
    if args.nwb_out or args.in_place:
        from nwb_sae.io.results.write import write_nwb

        nwb_path = write_nwb(sae, args.data_path, args.nwb_out, activity=opts.get("activity"),
                             module=args.module, in_place=args.in_place, overwrite=args.overwrite,
                             bin_size=opts.get("bin_size"), progress=args.progress)
        summary["nwb_out"] = str(nwb_path)
    write_json(out / "metrics.json", summary)
    save_inference_figures(data, recon, codes, out / "figures", args.num_samples)
    print(f"encoded {summary['n_samples']} samples: FVU {summary['fvu']:.3f}, L0 {summary['l0']:.1f}, "
          f"dead {summary['dead_fraction']:.1%}")
    print(f"codes: {out / 'codes.nc'}")
    if "nwb_out" in summary:
        print(f"NWB: {summary['nwb_out']}")
    return 0
