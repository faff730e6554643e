"""Checkpoints: weights as ``safetensors`` plus a human-readable JSON file beside them.

A checkpoint ``best_model`` is the pair ``best_model.safetensors`` + ``best_model.json``. Nothing here
ever unpickles a file: ``safetensors`` holds only tensors, and a legacy ``.pt`` file is opened with
``torch.load(weights_only=True)``, which refuses arbitrary Python objects.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from nwb_sae.errors import CheckpointError
from nwb_sae.io.jsonable import dumps, write_json
from nwb_sae.io.safe_write import atomic_write, check_space

WEIGHTS_SUFFIX = ".safetensors"
META_SUFFIX = ".json"


def checkpoint_paths(path) -> tuple[Path, Path]:
    """The (weights, metadata) files of a checkpoint named by either file or by their common stem."""
    path = Path(path)
    if path.suffix in (WEIGHTS_SUFFIX, META_SUFFIX):
        path = path.with_suffix("")
    return path.with_name(path.name + WEIGHTS_SUFFIX), path.with_name(path.name + META_SUFFIX)


def save_checkpoint(path, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """Save tensors and JSON metadata; returns the weights path.

    Parameters
    ----------
    path : str or Path
        Checkpoint name, with or without the ``.safetensors`` suffix.
    tensors : dict of str to torch.Tensor
        Weights and buffers.
    meta : dict
        JSON-able metadata (settings, normalisation, metrics, version).
    """
    weights, meta_path = checkpoint_paths(path)
    cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    size = sum(t.numel() * t.element_size() for t in cpu.values())
    weights.parent.mkdir(parents=True, exist_ok=True)
    check_space(weights.parent, size + len(dumps(meta, indent=2).encode()), weights)  # both files, or neither
    atomic_write(weights, lambda tmp: save_file(cpu, tmp), expected_bytes=size)
    write_json(meta_path, meta)
    return weights


def load_checkpoint(path) -> tuple[dict[str, torch.Tensor], dict]:
    """Load (tensors, metadata) saved by :func:`save_checkpoint`, or a legacy ``.pt`` state dict.

    Raises
    ------
    CheckpointError
        Missing files, corrupt files, or a ``.pt`` file holding more than tensors.
    """
    path = Path(path)
    if path.suffix in (".pt", ".pth"):
        return _load_legacy(path)
    weights, meta_path = checkpoint_paths(path)
    if not weights.exists() and meta_path.exists():
        raise CheckpointError(
            f"{weights}: missing: the weights that belong to {meta_path.name} are not beside it. Keep the "
            ".safetensors and the .json files of a checkpoint together (copy both)."
        )
    if not weights.exists():
        raise CheckpointError(
            f"{weights}: no such checkpoint. Pass the path of a '.safetensors' file written by "
            "`nwb-sae train` (e.g. OUTPUT_DIR/checkpoints/best_model.safetensors)."
        )
    if not meta_path.exists():
        raise CheckpointError(
            f"{meta_path}: the settings file that belongs to {weights.name} is missing; "
            "keep the .json beside the .safetensors file."
        )
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{weights}: not a readable safetensors file ({err}); {_why_unreadable(weights)}. "
                              "Retrain or copy it again.") from err
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{meta_path}: not valid JSON ({err}); the checkpoint's settings "
                              "file is corrupt.") from err
    return tensors, meta


def _why_unreadable(weights: Path) -> str:
    """What is wrong with a safetensors file, by its 8-byte header length and JSON header."""
    from nwb_sae.io.diagnose import describe_content

    actual = weights.stat().st_size
    with open(weights, "rb") as f:
        head = f.read(8)
        length = int.from_bytes(head, "little") if len(head) == 8 else None
        if length is None or length > 100_000_000:  # not a safetensors header length
            content = describe_content(head) if head else "it is empty"
            return f"it may be truncated or corrupt ({content})"
        if 8 + length > actual:
            return f"it is truncated: {actual:,} bytes, fewer than its header alone ({8 + length:,})"
        try:
            header = json.loads(f.read(length))
            end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
        except (ValueError, KeyError, TypeError, AttributeError):
            return "it may be truncated or corrupt (its header is cut or damaged)"
    expected = 8 + length + end
    if actual < expected:
        return f"it is truncated: {actual:,} bytes of the {expected:,} its header describes"
    return "it may be corrupt"


def _load_legacy(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file.")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise CheckpointError(
            f"{path}: refused to load. nwb-sae only opens .pt files holding plain tensors "
            f"(torch.load(weights_only=True)); this one holds Python objects or is corrupt ({err}). "
            "Re-save the weights with safetensors."
        ) from err
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        meta = {k: v for k, v in obj.items() if k != "state_dict" and not torch.is_tensor(v)}
        obj = obj["state_dict"]
    else:
        meta = {}
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        raise CheckpointError(f"{path}: does not hold a state dict of tensors.")
    return dict(obj), meta


def legacy_checkpoint(tensors: dict, path) -> tuple[dict, dict]:
    """A ``.pt`` state dict of the original design (nn.Linear encoder/decoder, ReLU + L1) as (weights, meta)."""
    try:
        w_enc, b_enc = tensors["encoder.weight"], tensors["encoder.bias"]
        w_dec, b_dec = tensors["decoder.weight"].T, tensors["decoder.bias"]
    except KeyError as err:
        raise CheckpointError(
            f"{path}: a state dict without nwb-sae settings and without encoder/decoder weights "
            f"(keys: {sorted(tensors)[:8]}). Save models with nwb-sae's SAE.save()."
        ) from err
    # relu is positively homogeneous: folding the decoder norms into the encoder keeps the model exact
    norms = w_dec.norm(dim=1).clamp_min(1e-8)
    n_latents, n_inputs = w_enc.shape
    weights = {"W_enc": w_enc * norms[:, None], "b_enc": b_enc * norms + w_enc @ b_dec * norms,
               "W_dec": w_dec / norms[:, None], "b_dec": b_dec, "input_mean": torch.zeros(n_inputs),
               "input_scale": torch.ones(n_inputs), "threshold": torch.zeros(())}
    settings = {"n_latents": n_latents, "activation": "relu", "normalize": "none", "device": "cpu"}
    return weights, {"settings": settings, "n_neurons": n_inputs, "data_attrs": {"source": str(path)}}
