"""Flags and their environment twins, from one pydantic-settings declaration per setting.

Each setting is a field of a ``BaseSettings`` model: its type and constraints,
its default, its help (``description``), its environment variable
(``AI_GATEWAY_<NAME>``, or the ``env`` it names) and its flag (``--name``, or
the ``flag`` it names). pydantic-settings reads the environment; this module
makes the argparse parser from the same fields (argparse gives the usual
``--help`` and flag errors), and a value that does not validate, from a flag
or from the environment, stops the process with one line naming both and
saying what is wrong, instead of a traceback.

Both planes declare their settings this way (data_plane.settings,
control_plane.settings).
"""

from __future__ import annotations

import argparse
import os
from typing import Any, TypeVar

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings

PREFIX = "AI_GATEWAY_"
SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def setting(
    default: Any,
    help: str,
    *,
    flag: str | None = None,
    env: str | None = None,
    **constraints: Any,
) -> Any:
    """A field of a settings model: ``env`` when its variable is not AI_GATEWAY_<NAME>."""
    extra: dict[str, Any] = {}
    if flag is not None:
        extra["flag"] = flag
    if env is not None:
        extra["env"] = env
        constraints["validation_alias"] = AliasChoices(env)
    if callable(default):  # made when the settings are: a host name, a process id
        return Field(default_factory=default, description=help, json_schema_extra=extra,
                     **constraints)  # fmt: skip
    return Field(default, description=help, json_schema_extra=extra, **constraints)


def _names(model: type[BaseSettings], name: str) -> tuple[str, str]:
    extra = model.model_fields[name].json_schema_extra
    extra = extra if isinstance(extra, dict) else {}
    flag = str(extra.get("flag") or "--" + name.replace("_", "-"))
    env = str(extra.get("env") or PREFIX + name.upper())
    return flag, env


def parse(
    model: type[SettingsT], argv: list[str] | None, *, prog: str, description: str
) -> SettingsT:
    """The settings from flags (``argv``), then the environment, then the defaults."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    for name, field in model.model_fields.items():
        flag, env = _names(model, name)
        default = field.get_default(call_default_factory=False)
        shown = "" if default is None or field.default_factory else f"; default {default}"
        help_text = f"{field.description} ({env}{shown})"
        if field.annotation is bool:
            parser.add_argument(flag, dest=name, action="store_true", default=None, help=help_text)
        else:
            parser.add_argument(flag, dest=name, default=None, help=help_text)
    given = {k: v for k, v in vars(parser.parse_args(argv)).items() if v is not None}
    try:
        return model(**given)
    except ValidationError as exc:
        raise SystemExit(_explain(model, exc, given)) from None


def _explain(model: type[BaseSettings], exc: ValidationError, given: dict[str, Any]) -> str:
    error = exc.errors()[0]
    message = str(error["msg"]).removeprefix("Value error, ")
    name = next((str(part) for part in error["loc"] if isinstance(part, str)), "")
    if name not in model.model_fields:  # a rule between settings, or an alias's name
        name = next(
            (n for n in model.model_fields if _names(model, n)[1].lower() == name.lower()), ""
        )
    if not name:
        return f"Error: {message}"
    flag, env = _names(model, name)
    source = flag if name in given else env if env in os.environ else flag
    value = given.get(name, os.environ.get(env))
    shown = f" {value!r}" if value is not None else ""
    return f"Error: {source}{shown}: {message} ({flag} / {env})"
