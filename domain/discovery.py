"""Finding the resources: each layer keeps one declaration per resource in
its own ``resources`` package (``domain/resources/instance.py``,
``workers/resources/instance.py`` ...), as a module-level ``RESOURCE``, and
the layer's central lists are derived from what is found there. No list
names the resources, so adding one adds files and edits none.

Packages from outside this tree (a plugin, a test's own resource) are named
in ``CLOUDLEDGER_RESOURCES``, comma-separated: for each, the layer imports
``<package>.<layer>`` if it exists. It is read here, not by a composition
root, because the lists are built when their modules are imported."""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Mapping
from types import ModuleType
from typing import TypeVar

ENV = "CLOUDLEDGER_RESOURCES"
T = TypeVar("T")


def extra_packages(environ: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    return tuple(p.strip() for p in environ.get(ENV, "").split(",") if p.strip())


def _modules(layer: str, environ: Mapping[str, str]) -> list[ModuleType]:
    package = importlib.import_module(f"{layer}.resources")
    names = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.ispkg)
    found = [importlib.import_module(f"{package.__name__}.{name}") for name in names]
    for extra in extra_packages(environ):
        name = f"{extra}.{layer}"
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the module exists but an import inside it fails
                raise
    return found


def declarations(
    layer: str, kind: type[T], environ: Mapping[str, str] = os.environ
) -> tuple[T, ...]:
    """The ``RESOURCE`` of each module of ``layer``'s resources package (in
    the order of their names), then of each extra package's ``layer`` module."""
    found: list[T] = []
    for module in _modules(layer, environ):
        declared = getattr(module, "RESOURCE", None)
        if declared is None:
            continue
        if not isinstance(declared, kind):
            raise TypeError(f"{module.__name__}.RESOURCE is not a {kind.__name__}")
        found.append(declared)
    names = [getattr(d, "name", "") for d in found]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise ValueError(f"{layer}: two declarations of {', '.join(doubled)}")
    return tuple(found)
