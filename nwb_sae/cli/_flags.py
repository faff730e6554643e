"""Command-line flags generated from settings dataclasses (``nwb_sae.config``).

Each field becomes a flag in underscore and hyphen spelling, typed from its annotation, with its
attribute docstring (the string literal under the field) as help text, so a new setting needs no edit
of any verb. The docstrings are read from the source with :mod:`ast`, as ``simple_parsing`` does for
EleutherAI's sparsify, without the dependency.

>>> import argparse
>>> from nwb_sae.config import ModelConfig
>>> parser = argparse.ArgumentParser()
>>> add_config_flags(parser, ModelConfig, aliases={"n_latents": ["embedding_dim"]})
>>> args = parser.parse_args(["--embedding-dim", "64", "--activation", "relu"])
>>> settings_from_args(args, ModelConfig)["n_latents"]
64
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import re
import textwrap
import types
import typing
from collections.abc import Iterable, Mapping
from functools import cache

from nwb_sae.cli._common import spellings

_NONE_WORDS = ("none", "null")
_BOOL_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


@cache
def field_docs(cls: type) -> dict[str, str]:
    """The attribute docstrings of dataclass ``cls``: field name -> text (one line, RST quotes removed).

    Examples
    --------
    >>> from nwb_sae.config import TrainConfig
    >>> field_docs(TrainConfig)["seed"]
    'Seed of the split, the initialisation and the batch order.'
    """
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs = {}
    for node, after in zip(body, body[1:], strict=False):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):
            text = " ".join(inspect.cleandoc(after.value.value).split())
            docs[node.target.id] = re.sub(r"``(.*?)``", r"\1", text)
    return docs


def _optional(convert, name: str):
    """A converter that reads ``none``/``null`` as None and anything else with ``convert``."""
    def parse(text: str):
        return None if text.strip().lower() in _NONE_WORDS else convert(text)
    parse.__name__ = name  # argparse names the type in its error messages
    return parse


def _parse_bool(text: str) -> bool:
    try:
        return _BOOL_WORDS[text.strip().lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}") from None


def _flag_options(annotation) -> dict:
    """argparse keyword arguments (type, choices, action, metavar) for a field annotation."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    optional = typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1
    base = args[0] if optional else annotation
    if typing.get_origin(base) is typing.Literal:
        choices = typing.get_args(base)
        return {"type": type(choices[0]), "choices": choices}
    if base is bool and not optional:
        return {"action": argparse.BooleanOptionalAction}
    convert = _parse_bool if base is bool else base
    if optional:
        return {"type": _optional(convert, base.__name__), "metavar": f"{base.__name__.upper()}|none"}
    return {"type": convert, "metavar": base.__name__.upper()}


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def add_config_flags(parser: argparse.ArgumentParser, *configs: type, aliases: Mapping[str, Iterable[str]] = (),
                     only: Iterable[str] | None = None) -> None:
    """Add one flag per field of each dataclass in ``configs`` to ``parser``, in a group per class.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The (sub-)parser of a verb.
    *configs : dataclass types
        E.g. :class:`~nwb_sae.config.ModelConfig`, :class:`~nwb_sae.config.TrainConfig`.
    aliases : mapping, optional
        Field name -> other names accepted for it (e.g. the original design's ``embedding_dim``).
    only : iterable of str, optional
        Add only these fields (for verbs that need a few, e.g. ``device`` for inference).

    Notes
    -----
    ``int | None`` flags accept ``none``; ``bool`` flags come as ``--x`` / ``--no-x``; ``Literal``
    annotations become choices. The destination is always the field name, so
    :func:`settings_from_args` reads the values back.
    """
    aliases = dict(aliases)
    wanted = None if only is None else set(only)
    for cls in configs:
        hints = typing.get_type_hints(cls)
        docs = field_docs(cls)
        summary = (inspect.getdoc(cls) or cls.__name__).splitlines()[0].rstrip(".")
        group = parser.add_argument_group(f"{summary} ({cls.__module__}.{cls.__name__})")
        for f in dataclasses.fields(cls):
            if wanted is not None and f.name not in wanted:
                continue
            names = [f.name, *aliases.get(f.name, ())]
            options = _flag_options(hints[f.name])
            default = _default(f)
            help_text = docs.get(f.name, "").replace("%", "%%") + f" [default: {default}]"
            group.add_argument(*[s for n in names for s in spellings(n)], dest=f.name, default=default,
                               help=help_text, **options)


def settings_from_args(args: argparse.Namespace, *configs: type) -> dict:
    """The values of every field of ``configs`` found in ``args``, as one flat dict keyed by field name."""
    names = [f.name for cls in configs for f in dataclasses.fields(cls)]
    return {name: getattr(args, name) for name in names if hasattr(args, name)}
