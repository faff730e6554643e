"""The command-line reference, generated at build time from the ``nwb-sae`` argparse parsers.

The flags are never copied by hand: each verb's ``format_help()`` is written as it is when the docs
are built, so the page always matches ``nwb-sae VERB --help``.
"""

from __future__ import annotations

import argparse
import os

from generated import generate_on_build, heading, literal


def verb_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The sub-parser of each verb, by name."""
    for action in parser._actions:  # argparse offers no public accessor for sub-parsers
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def cli_page() -> str:
    from nwb_sae.cli import build_parser

    os.environ["COLUMNS"] = "100"  # argparse wraps help text to the terminal width: fix it
    parser = build_parser()
    verbs = verb_parsers(parser)
    helps = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
    text = heading("Command line")
    text += (".. This page is generated from the argparse parsers in nwb_sae/cli when the docs are built.\n\n"
             "``nwb-sae`` (or ``python -m nwb_sae``) has one verb per step of the pipeline. Every flag is "
             "accepted in underscore and hyphen spelling (``--data_path`` or ``--data-path``).\n\n")
    text += "".join(f"- :ref:`nwb-sae {verb} <cli-{verb}>`: {helps.get(verb) or ''}\n" for verb in verbs)
    text += "\n" + literal(parser.format_help())
    for verb, sub in verbs.items():
        text += f".. _cli-{verb}:\n\n" + heading(f"nwb-sae {verb}", "-") + literal(sub.format_help())
    return text


def setup(app):
    generate_on_build(app, "cli", cli_page)
    return {"parallel_read_safe": True}
