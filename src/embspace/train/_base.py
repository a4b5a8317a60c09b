"""The learner contract every embspace learner follows (scikit-learn's).

- Settings are the keyword arguments of ``__init__``, stored under their own names, with no I/O
  and no checks (checks run in ``fit``). :meth:`Learner.get_params` reads them from the
  ``__init__`` signature, :meth:`Learner.set_params` sets them, ``repr`` shows those that differ
  from their defaults: no hand-kept list of names.
- ``fit(data) -> self`` learns; what it learns ends in ``_`` (``space_``, ``vocab_``,
  ``loss_history_``, or a product object such as ``recommender_``).
- Reading learned state before ``fit`` raises :class:`~embspace.errors.NotFittedError`, through
  the one :meth:`Learner.check_is_fitted`.

>>> class Toy(Learner):
...     def __init__(self, *, dim: int = 8, seed: int = 0) -> None:
...         self.dim = dim
...         self.seed = seed
...     def fit(self, data: list[int]) -> "Toy":
...         self.total_ = sum(data)
...         return self
>>> Toy(dim=4)
Toy(dim=4)
>>> Toy().set_params(seed=3).get_params()
{'dim': 8, 'seed': 3}
>>> Toy().check_is_fitted("total_")
Traceback (most recent call last):
...
embspace.errors.NotFittedError: this Toy is not fitted yet: call fit(data) before using total_
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, ClassVar

from ..errors import InvalidInputError, NotFittedError

__all__ = ["Learner"]

#: Settings that change how a run is shown, never what it learns: left out of provenance and
#: checkpoint fingerprints (see :meth:`Learner._config`).
DISPLAY_ONLY: frozenset[str] = frozenset({"progress"})


def _short(value: Any) -> str:
    """``repr`` of a setting, or its type name where that repr is long (a torch module, an encoder)."""
    text = repr(value)
    if "\n" in text or len(text) > 60:
        return f"{type(value).__name__}(...)"
    return text


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return type(a) is type(b) and bool(a == b)
    except (TypeError, ValueError):  # arrays, objects without a boolean ==
        return False


class Learner:
    """Base of every embspace learner: settings from the ``__init__`` signature, one not-fitted check.

    Subclasses store each ``__init__`` argument under its own name (a derived default, such as an
    objective-dependent number of epochs, may be resolved there) and name their learned state with
    a trailing ``_``.
    """

    _fit_hint: ClassVar[str | None] = None

    @classmethod
    def _param_names(cls) -> list[str]:
        """The settings: the named parameters of ``__init__`` (``self``, ``*args`` and ``**kwargs`` left out)."""
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self) -> dict[str, Any]:
        """The settings, as given to ``__init__`` (``type(self)(**get_params())`` is an unfitted copy)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Any:
        """Change settings (names as in ``__init__``); returns ``self``. Takes effect at the next ``fit``."""
        valid = self._param_names()
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise InvalidInputError(f"{type(self).__name__} has no setting {', '.join(map(repr, unknown))}; "
                                    f"its settings are {', '.join(valid)}")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def _config(self) -> dict[str, Any]:
        """The settings that decide what is learned (``get_params`` less display-only ones such as
        ``progress``): recorded in provenance and checkpoint fingerprints."""
        return {k: v for k, v in self.get_params().items() if k not in DISPLAY_ONLY}

    def _default(self, name: str) -> Any:
        """The default of setting ``name`` (from the signature; a learner that resolves a derived
        default in ``__init__`` answers with the resolved value)."""
        return inspect.signature(type(self).__init__).parameters[name].default

    def __repr__(self) -> str:
        shown = []
        for name, value in self.get_params().items():
            default = self._default(name)
            if default is not inspect.Parameter.empty and _same(value, default):
                continue
            shown.append(f"{name}={_short(value)}")
        return f"{type(self).__name__}({', '.join(shown)})"

    # ------------------------------------------------------------------ fitted state
    def _fit_call(self) -> str:
        """How to call ``fit``, for messages: ``fit(corpus)``, ``fit(interactions)``, ..."""
        if self._fit_hint is not None:
            return self._fit_hint
        fit = getattr(type(self), "fit", None)
        if fit is None:
            return "fit()"
        names = [p.name for p in inspect.signature(fit).parameters.values()
                 if p.name != "self" and p.default is inspect.Parameter.empty
                 and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        return f"fit({', '.join(names)})"

    def check_is_fitted(self, attrs: str | Sequence[str] | None = None) -> None:
        """Raise :class:`~embspace.errors.NotFittedError` unless ``fit`` has run.

        Parameters
        ----------
        attrs
            The attribute(s) ``fit`` sets (held in the instance, not properties); default: any
            instance attribute ending in ``_``.
        """
        state = vars(self)
        if attrs is None:
            fitted = any(k.endswith("_") and not k.startswith("__") for k in state)
            what = "its learned state"
        else:
            names = [attrs] if isinstance(attrs, str) else list(attrs)
            fitted = all(n in state for n in names)
            what = ", ".join(_public(n) for n in names)
        if not fitted:
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call {self._fit_call()} before "
                                 f"using {what}")

    def _fitted(self, name: str) -> Any:
        """The learned attribute ``name`` (held privately, e.g. ``_space`` behind the ``space_`` property)."""
        self.check_is_fitted(name)
        return vars(self)[name]


def _public(name: str) -> str:
    """The name a user reads: ``_space`` (held behind a property) is ``space_``."""
    if name.startswith("_") and not name.endswith("_"):
        return name.lstrip("_") + "_"
    return name
