"""One loader for every config of the toolkit: YAML files and ``key=value`` overrides -> typed dataclasses.

Configs are plain dataclasses (importable and constructible without this module); :func:`load` and
:func:`from_dict` build them with dacite in strict mode: an unknown key, a wrong type (``int`` is accepted for
``float``; ``bool`` is never an ``int``), a ``Literal`` outside its choices or a range check of a
``__post_init__`` is a :class:`ConfigError`, one line in one wording everywhere::

    {file}: {dotted.key}: expected {what}, got {value!r}

``file`` is the YAML file the offending value came from, ``<overrides>`` for a command-line override and
``<dict>`` for a value given in Python. YAML is read like ``yaml.safe_load`` (no tags that build Python
objects), except that ``1e-4`` and ``3E5`` are floats (YAML 1.2), not strings as in PyYAML's YAML 1.1.

A field whose type is a dataclass may be given as a mapping or as the path of another YAML file (relative to
the current directory), so ``data: {curation: configs/curation/tiny.yaml}`` keeps each value in one place;
overrides reach into it (``data.curation.voxel_size=0.05``). See docs/configs.md.

Bounds (checked before anything is read, so no file can make the loader block or read without end): a YAML
file must be a regular file (not a device such as ``/dev/zero``, a FIFO or a socket: ``os.stat`` first) of at
most :data:`MAX_YAML_BYTES`, in UTF-8; YAML aliases (``*name``, also ``<<: *name``) are refused at their line
(nested aliases expand exponentially: "billion laughs"), and so is nesting deeper than Python's recursion
limit. Errors never quote a file that is not a config: a top level that is not a mapping is described (``got
a list of 2 items``), and a file named by a path inside a config (``data.curation: FILE``) that is not YAML,
not a mapping or holds a key that is not the config's is refused without quoting its lines or keys.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import math
import os
import re
import stat
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import dacite
import yaml

__all__ = ["ConfigError", "load", "from_dict", "read_yaml", "parse_value", "require", "check", "describe",
           "OVERRIDES", "NO_FILE", "MAX_YAML_BYTES"]

OVERRIDES = "<overrides>"
NO_FILE = "<dict>"
_TOP = "(top level)"
MAX_YAML_BYTES = 1 << 20
"""The largest YAML file read (1 MiB; the shipped configs are a few KiB): a larger file is refused unread."""
_LIMIT = f"{MAX_YAML_BYTES / 2 ** 20:g} MiB"
_SHOWN = 120  # characters of a value an error shows at most


class _Said:
    """A value an error describes in words instead of quoting it (``repr`` is the words)."""

    def __init__(self, words: str):
        self.words = words

    def __repr__(self) -> str:
        return self.words

    def __eq__(self, other) -> bool:
        return isinstance(other, _Said) and other.words == self.words


def _kind(value: Any) -> _Said:
    """What ``value`` is, without its content: ``a string of 12 characters``, ``a list of 2 items``."""
    if isinstance(value, str):
        return _Said(f"a string of {len(value)} characters")
    if isinstance(value, (list, tuple)):
        return _Said(f"a list of {len(value)} items")
    if isinstance(value, Mapping):
        return _Said(f"a mapping of {len(value)} keys")
    return _Said(f"{'an' if type(value).__name__[0] in 'aeiou' else 'a'} {type(value).__name__}")


class ConfigError(ValueError):
    """A bad configuration: ``"{file}: {key}: expected {what}, got {value!r}"`` on one line.

    ``key`` is dotted from the root of the config being built (``optim.lr``); ``file`` is None until the loader
    knows where the value came from (then it is shown as ``<dict>``).
    """

    def __init__(self, key: str, what: str, value: Any, file: str | None = None, unknown: str | None = None):
        super().__init__(key, what, value, file, unknown)
        self.key, self.what, self.value, self.file = key, " ".join(str(what).split()), value, file
        self.unknown = unknown
        """For an unknown key: what to say instead when the key's name must not be quoted (:meth:`quiet`)."""

    def __str__(self) -> str:
        shown = repr(self.value)
        shown = shown if len(shown) <= _SHOWN else shown[:_SHOWN - 3] + "..."
        return f"{self.file or NO_FILE}: {self.key or _TOP}: expected {self.what}, got {shown}"

    def located(self, prefix: str = "", file: str | None = None) -> ConfigError:
        """The same error under section ``prefix`` and, unless it names one already, from ``file``."""
        return ConfigError(_join(prefix, self.key), self.what, self.value, self.file or file, self.unknown)

    def quiet(self) -> ConfigError:
        """The error about a file named by a path inside a config: an unknown key's name (the file may be no
        config at all) is not quoted; the section it is in is named instead."""
        if self.unknown is None:
            return self
        return ConfigError(self.key.rpartition(".")[0], self.unknown, _Said("a key that is not one (not shown)"),
                           self.file)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix and key else prefix or key


# ---------------------------------------------------------------------------------------------------- YAML

class _Loader(yaml.SafeLoader):
    """``yaml.safe_load``'s loader, with YAML 1.2 floats: ``1e-4``, ``3E5`` and ``1.0e5`` are numbers, and no
    aliases (``*name``): nested aliases expand exponentially ("billion laughs") in whatever walks the result,
    so one is refused at its line before any key is checked (anchors alone are harmless)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not supported in configs; write the value out",
                self.peek_event().start_mark)
        return super().compose_node(parent, index)


_FLOAT_TAG = "tag:yaml.org,2002:float"
_Loader.yaml_implicit_resolvers = {first: [r for r in resolvers if r[0] != _FLOAT_TAG]
                                   for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(_FLOAT_TAG, re.compile(r"""^(?:
     [-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X), list("-+0123456789."))


def _safe_load(text: str) -> Any:
    """``yaml.safe_load(text)`` with YAML 1.2 floats: :class:`_Loader` is a ``SafeLoader`` subclass, so tags that
    would build Python objects are rejected."""
    return yaml.load(text, Loader=_Loader)


def _yaml_error(err: yaml.YAMLError, text: str, file: str, quote: bool = True) -> ConfigError:
    mark = getattr(err, "problem_mark", None)
    if isinstance(err, yaml.constructor.ConstructorError):
        what = "plain YAML data (no !!python/... or other tags that build objects)"
    else:
        what = f"valid YAML ({getattr(err, 'problem', None) or str(err).splitlines()[0]})"
    lines = text.splitlines()
    if mark is None or not lines:
        return ConfigError("", what, text.strip()[:80] if quote else _Said("text not shown"), file)
    line = min(mark.line, len(lines) - 1)  # an error at the end of the text: its last line
    return ConfigError(f"line {line + 1}", what, lines[line].strip() if quote else _Said("a line not shown"), file)


def _read_text(path: str | Path, key: str, file: str) -> str:
    """The text of YAML file ``path``; refused before reading unless it is a regular file of at most
    :data:`MAX_YAML_BYTES` (so a device, a FIFO or a huge file neither blocks nor fills memory)."""
    def refuse(what: str):
        return ConfigError(key, what, str(path), file)

    try:
        info = os.stat(path)
    except (OSError, ValueError) as err:
        raise refuse(f"a readable YAML file ({getattr(err, 'strerror', None) or err})") from None
    if stat.S_ISDIR(info.st_mode):
        raise refuse("a readable YAML file (Is a directory)")
    if not stat.S_ISREG(info.st_mode):
        raise refuse("a regular YAML file (not a device, FIFO or socket)")
    if info.st_size > MAX_YAML_BYTES:
        raise refuse(f"a YAML file of at most {_LIMIT} (it has {info.st_size} bytes)")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_YAML_BYTES + 1)  # a file that grew since the stat is still bounded
    except OSError as err:
        raise refuse(f"a readable YAML file ({err.strerror or err})") from None
    if len(data) > MAX_YAML_BYTES:
        raise refuse(f"a YAML file of at most {_LIMIT}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise refuse("a UTF-8 text file") from None


def read_yaml(path: str | Path, key: str = "", file: str | None = None, quote: bool = True) -> Any:
    """The YAML document in ``path`` (None when empty).

    An unreadable, non-regular or too large file (:data:`MAX_YAML_BYTES`) is an error at ``key`` of ``file``
    (where the path was written; default the path itself); a syntax error, a tag or an alias is an error at
    its line of ``path``, which quotes that line only when ``quote``.
    """
    text = _read_text(path, key, file or str(path))
    try:
        return _safe_load(text)
    except yaml.YAMLError as err:
        raise _yaml_error(err, text, str(path), quote) from None
    except RecursionError:
        raise ConfigError("", "YAML nested less deeply", _Said("nesting too deep to read"), str(path)) from None


def parse_value(text: str, key: str) -> Any:
    """A command-line override value, read as YAML with the same loader (``1e-4`` is a float)."""
    try:
        return _safe_load(text)
    except (yaml.YAMLError, RecursionError):
        raise ConfigError(key, "a YAML value", text, OVERRIDES) from None


# ---------------------------------------------------------------------------------------------------- types

@functools.cache
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _hint(owner, name: str):
    """The type of field ``name`` of dataclass ``owner`` (None when ``owner`` is not one or has no such field)."""
    return _hints(owner).get(name) if dataclasses.is_dataclass(owner) else None


def _union(hint) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _dataclass_in(hint):
    """The dataclass that ``hint`` is (or that an Optional ``hint`` holds), else None."""
    options = typing.get_args(hint) if _union(hint) else (hint,)
    return next((t for t in options if isinstance(t, type) and dataclasses.is_dataclass(t)), None)


def _takes_text(hint) -> bool:
    """Whether an override of a field of this type takes its text as is (strings and string choices)."""
    if typing.get_origin(hint) is Literal:
        return all(isinstance(a, str) for a in typing.get_args(hint))
    return hint is str or (_union(hint) and any(_takes_text(a) for a in typing.get_args(hint)))


_PLURAL = {int: "integers", float: "numbers", str: "strings", bool: "booleans"}


def describe(hint) -> str:
    """What a value of type ``hint`` looks like, in words (for error messages)."""
    words = {bool: "true or false", int: "an integer", float: "a number", str: "a string", type(None): "null",
             dict: "a mapping"}
    if hint in words:
        return words[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if _union(hint):
        return " or ".join(describe(a) for a in args)
    if _dataclass_in(hint) is not None:
        return "a mapping or the path of a YAML file"
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return f"a list of {_PLURAL.get(args[0], describe(args[0]))}"
    if origin is tuple and len(set(args)) == 1:
        return f"a list of {len(args)} {_PLURAL.get(args[0], describe(args[0]))}"
    return describe(origin) if origin is not None else getattr(hint, "__name__", str(hint))


def _as_int(value):
    if isinstance(value, bool):
        raise dacite.WrongTypeError(field_type=int, value=value)
    return value


def _as_float(value):
    if isinstance(value, bool):
        raise dacite.WrongTypeError(field_type=float, value=value)
    return float(value) if isinstance(value, int) else value


_DACITE = dacite.Config(strict=True, cast=[tuple], type_hooks={int: _as_int, float: _as_float})


# ---------------------------------------------------------------------------------------------------- building

def from_dict(cls, data: Mapping | None, prefix: str = ""):
    """Builds dataclass ``cls`` from ``data`` (dacite, strict); errors name their dotted key below ``prefix``.

    Nested dataclasses are built first, each by this function, so that an error raised in a nested
    ``__post_init__`` names its full key. A dataclass may list keys it had under an earlier name
    (``RENAMED_KEYS = {"old": "new"}``, a class variable): files written before the rename load with the key
    renamed (the same value; a file holding both names is refused as holding an unknown key).
    """
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        raise ConfigError(prefix, "a mapping", _kind(data))
    data = dict(data)
    for old, new in getattr(cls, "RENAMED_KEYS", {}).items():  # files written before a key was renamed
        if old in data and new not in data:
            data[new] = data.pop(old)
    hints = _hints(cls)
    for name, value in data.items():
        hint = hints.get(name)
        if _dataclass_in(hint) is not None and isinstance(value, Mapping):
            data[name] = from_dict(_dataclass_in(hint), value, _join(prefix, name))
        elif typing.get_origin(hint) is tuple and not isinstance(value, list | tuple):
            raise ConfigError(_join(prefix, name), describe(hint), value)  # dacite would split a string
    try:
        return dacite.from_dict(cls, data, _DACITE)
    except dacite.UnexpectedDataError as err:
        name = sorted(err.keys)[0]
        names = [f.name for f in dataclasses.fields(cls)]
        close = difflib.get_close_matches(str(name), names, n=1)
        what = f"a key of {cls.__name__} ({f'did you mean {close[0]}?' if close else 'one of ' + ', '.join(names)})"
        # Named by a path inside a config, a file may be no config at all: a key close to none is not quoted.
        unknown = None if close else f"only keys of {cls.__name__} (one of {', '.join(names)})"
        raise ConfigError(_join(prefix, name), what, name, unknown=unknown) from None
    except dacite.WrongTypeError as err:
        name = err.field_path.split(".")[0]
        raise ConfigError(_join(prefix, err.field_path), describe(hints[name]), data.get(name, err.value)) from None
    except dacite.MissingValueError as err:
        raise ConfigError(_join(prefix, err.field_path), "a value", None) from None
    except ConfigError as err:  # a range check of cls.__post_init__
        raise err.located(prefix) from None


def _origin(origins: dict, key: str) -> str:
    """The file that set ``key`` (or its nearest section that was set)."""
    while key not in origins:
        key = key.rpartition(".")[0]
    return origins[key]


def _record(origins: dict, key: str, value, file: str) -> None:
    for old in [k for k in origins if k.startswith(key + ".")] if key else []:
        del origins[old]
    origins[key] = file
    if isinstance(value, dict):
        for name, sub in value.items():
            _record(origins, _join(key, str(name)), sub, file)


def _include(node: dict, name: str, owner, key: str, origins: dict, included: set) -> None:
    """Reads a nested dataclass field given as a YAML path into a mapping, in place (``included`` collects the
    paths read, whose errors quote nothing from them: see :meth:`ConfigError.quiet`)."""
    path = node.get(name)
    sub = _dataclass_in(_hint(owner, name))
    if isinstance(path, str) and sub is not None:
        value = read_yaml(path, key, _origin(origins, key), quote=False)
        if value is not None and not isinstance(value, dict):
            raise ConfigError(key, f"a YAML mapping of {sub.__name__} keys", _kind(value), path)
        node[name] = {} if value is None else value
        included.add(path)
        _record(origins, key, node[name], path)


def _include_all(owner, node: dict, prefix: str, origins: dict, included: set) -> None:
    for name in list(node):
        key = _join(prefix, str(name))
        _include(node, name, owner, key, origins, included)
        sub = _dataclass_in(_hint(owner, name))
        if sub is not None and isinstance(node[name], dict):
            _include_all(sub, node[name], key, origins, included)


def _apply_override(cls, data: dict, item: str, origins: dict, included: set) -> None:
    key, eq, text = item.partition("=")
    parts = key.strip().split(".")
    if not eq or not all(parts):
        raise ConfigError(item, "key=value (e.g. optim.lr=1e-4)", item, OVERRIDES)
    node, owner, prefix = data, cls, ""
    for part in parts[:-1]:
        prefix = _join(prefix, part)
        if node.get(part) is None:
            node[part] = {}
        _include(node, part, owner, prefix, origins, included)
        owner, node = _dataclass_in(_hint(owner, part)), node[part]
        if not isinstance(node, dict):
            raise ConfigError(prefix, "a section (a mapping) to set a key in", node, OVERRIDES)
    value = text if _takes_text(_hint(owner, parts[-1])) else parse_value(text, key)
    node[parts[-1]] = value
    _record(origins, key, value, OVERRIDES)


def load(cls, path: str | Path | None = None, overrides: typing.Iterable[str] = (), check=None,
         data: Mapping | None = None):
    """Builds dataclass ``cls`` from a YAML file (None: the defaults) and ``key=value`` overrides.

    Overrides apply in order, after the file; their values are YAML (``optim.lr=1e-4`` is a float) except for
    string fields, which take the text as is. ``check(obj)``, when given, runs further checks (files that
    must exist) whose :class:`ConfigError` is located like the others. ``data``, instead of a file: the mapping
    the overrides apply to (e.g. a saved pipeline's settings; its errors name ``<dict>``).
    """
    if data is not None and path is not None:
        raise ValueError("load: give a path or data, not both")
    file = NO_FILE if path is None else str(path)
    data = copy.deepcopy(dict(data)) if data is not None else {} if path is None else read_yaml(path)
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError("", "a mapping", _kind(data), file)
    origins: dict = {}
    included: set = set()
    _record(origins, "", data, file)
    try:
        for item in overrides:
            _apply_override(cls, data, item, origins, included)
        _include_all(cls, data, "", origins, included)
        obj = from_dict(cls, data)
        if check is not None:
            check(obj)
        return obj
    except ConfigError as err:
        err = err.located(file=_origin(origins, err.key)) if err.file is None else err
        raise (err.quiet() if err.file in included else err) from None


# ---------------------------------------------------------------------------------------------------- checks

_RULES = {"> 0": lambda v: v > 0, ">= 0": lambda v: v >= 0, ">= 1": lambda v: v >= 1,
          "in [0, 1]": lambda v: 0 <= v <= 1, "in [0, 1)": lambda v: 0 <= v < 1}


def check(ok: bool, key: str, what: str, value: Any) -> None:
    """A ``__post_init__`` check: raises ``ConfigError(key, what, value)`` unless ``ok``."""
    if not ok:
        raise ConfigError(key, what, value)


def require(obj, rule: str, *names: str) -> None:
    """A ``__post_init__`` range check: every named field of ``obj`` is finite and satisfies ``rule``.

    ``rule`` is one of ``"> 0"``, ``">= 0"``, ``">= 1"``, ``"in [0, 1]"``, ``"in [0, 1)"``.
    """
    for name in names:
        value = getattr(obj, name)
        finite = isinstance(value, int) or math.isfinite(value)
        check(finite and _RULES[rule](value), name, f"{'a value' if isinstance(value, int) else 'a finite value'} {rule}",
              value)
