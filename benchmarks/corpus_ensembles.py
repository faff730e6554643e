"""What the default fit finds on real recordings: significant ensembles, their stability, selectivity.

Runs ``SAE()`` with its defaults on three corpus files (``NWB_SAE_CORPUS`` or ``--corpus``) read as
a user would, and prints one row per recording: the chosen model, how many latents are significant,
their stability across seeds, and which presentation columns they are selective for (q <= 0.05).

    python benchmarks/corpus_ensembles.py --corpus ../shared/nwb-corpus
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

#: name -> (file under the corpus, read_nwb arguments)
RECORDINGS = {
    "Rutishauser units, encoding_table": (
        "ecephys/rutishauser-cb__sub-4_ses-4_ecephys+image.nwb",
        dict(presentations="encoding_table", window=(-0.5, 1.5), bin_size=0.05)),
    "suite2p export, Deconvolved, 10 s windows": (
        "ophys/suite2p-export__2022_08_08.nwb",
        dict(activity="processing/ophys/Deconvolved/Deconvolved")),
    "neurosuite head-direction units, sleep_ripples": (
        "ecephys/pynapple-neurosuite__A2929-200711.nwb",
        dict(presentations="sleep_ripples", window=(-0.25, 0.25), bin_size=0.01)),
}


def describe(sae) -> dict:
    """The numbers of a fitted default SAE that a user would report."""
    table = sae.latent_table_
    sig = table[table["significant"]]
    selective = {}
    for column in table.columns:
        if str(column).endswith("_q_value"):
            name = str(column)[: -len("_q_value")]
            selective[name] = int((sig[column] <= 0.05).sum())
    return {"model": f"{sae.model_.config.activation}, {sae.model_.n_latents} latents, k={sae.model_.config.k:g}",
            "mp": sae.mp_count_, "significant": len(sig),
            "stability": float(np.median(sig["stability"])) if len(sig) else float("nan"),
            "selective": selective}


def main(argv=None) -> None:
    import nwb_sae

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=os.environ.get("NWB_SAE_CORPUS", "../shared/nwb-corpus"))
    args = parser.parse_args(argv)
    print("| recording | data (neurons x time x presentations) | chosen model | MP count | significant "
          "| median stability | selective (q <= 0.05) | seconds |")
    print("|---|---|---|---|---|---|---|---|", flush=True)
    for name, (relative, reading) in RECORDINGS.items():
        data = nwb_sae.read_nwb(Path(args.corpus) / relative, **reading)
        start = time.perf_counter()
        sae = nwb_sae.SAE(progress=False).fit(data)
        seconds = time.perf_counter() - start
        d = describe(sae)
        selective = ", ".join(f"{k}: {v}" for k, v in d["selective"].items()) or "no categorical column"
        shape = " x ".join(str(s) for s in data.shape)
        print(f"| {name} | {shape} | {d['model']} | {d['mp']} | {d['significant']} | {d['stability']:.2f} | "
              f"{selective} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
