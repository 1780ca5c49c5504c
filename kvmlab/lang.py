"""The trainee's language: ``--lang``, else ``$KVMLAB_LANG``, else English."""

from __future__ import annotations

import argparse
import os

LANGS = ("en", "zh")


def default() -> str:
    """$KVMLAB_LANG when it names a language kvmlab has (zh_CN.UTF-8 counts as zh), else en."""
    value = os.environ.get("KVMLAB_LANG", "").strip().lower()
    for lang in LANGS:
        if value == lang or value.startswith(lang + "_") or value.startswith(lang + "-"):
            return lang
    return "en"


def add_option(parser: argparse.ArgumentParser, what: str = "en or zh") -> None:
    """``--lang``, the same on every command that speaks to a trainee."""
    parser.add_argument("--lang", choices=LANGS, default=default(), help=f"{what} (default: $KVMLAB_LANG, else en)")
