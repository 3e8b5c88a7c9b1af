"""Package exports imported on first use (PEP 562), so that light modules stay light.

Importing ``bids_app.neural.config`` runs ``bids_app/neural/__init__.py`` first; if that
imported every submodule, the configuration (and the CLI's ``--help``) would pay for MNE, SciPy,
pandas and torch. A package instead declares which submodule provides each name it re-exports::

    __getattr__, __dir__, __all__ = lazy_exports(__name__, {
        "config": ("PreprocessingConfig",),
        "preprocess": ("preprocess",),
    })

``from bids_app.neural import preprocess`` then imports ``bids_app.neural.preprocess`` at that
moment and returns the same object as an eager import would.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Mapping, Sequence


def lazy_exports(package: str, exports: Mapping[str, Sequence[str]]
                 ) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """The ``__getattr__``, ``__dir__`` and ``__all__`` of a package with lazy re-exports.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping
        ``{submodule: names}``: the names each submodule (relative to the package) provides.

    Returns
    -------
    getattr, dir, all
        To be assigned to the package's ``__getattr__``, ``__dir__`` and ``__all__``.
    """
    origin = {name: f"{package}.{module}" for module, names in exports.items() for name in names}
    module = sys.modules[package]

    def __getattr__(name: str) -> object:
        if name not in origin:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(origin[name]), name)
        setattr(module, name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(module)) | set(origin))

    module.__dict__["_lazy_origin"] = origin
    module.__class__ = _LazyPackage
    return __getattr__, __dir__, sorted(origin)


class _LazyPackage(types.ModuleType):
    """A package whose exported names win over submodules of the same name.

    The import system binds each submodule on its package when it first loads it. With eager
    imports ``bids_app.neural.preprocess`` is nonetheless the function (the package's own import
    rebinds it); here the binding is skipped for such a name, so the function is found whichever
    of the two is imported first.
    """

    def __setattr__(self, name: str, value: object) -> None:
        if (isinstance(value, types.ModuleType)
                and self.__dict__.get("_lazy_origin", {}).get(name) == value.__name__):
            return
        super().__setattr__(name, value)
