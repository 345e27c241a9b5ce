"""Named things looked up by name: samplers, losses, schedules, protocols, datasets, methods.

A :class:`Registry` is a mapping from a name to an entry, changed only through
:meth:`Registry.register`. Looking up a name it does not hold raises :class:`UnknownName`,
whose message names what was asked for, the closest valid name (:func:`closest`: "did you
mean") and the valid choices; that is the only lookup code in the package. A registry made
with ``ignore_case`` (the datasets: ``rain100h`` is ``Rain100H``) matches a name whatever its
case when exactly one entry has it; :meth:`Registry.canonical` gives the registered spelling,
which the command line and the config validation (:mod:`irsde.schema`) both use. A registry
may also be given a ``discover`` function, called once on first use, that adds entries found
elsewhere (the methods registry reads the ``irsde.methods`` entry points of installed packages
with it).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownName(KeyError, ValueError):
    """A name no registry entry has; the message lists the valid names.

    Both a KeyError (it is a failed lookup) and a ValueError (it is a bad value in a config or
    on a command line), so callers may catch either.
    """

    def __str__(self) -> str:
        return str(self.args[0])


def closest(name: object, choices: Iterable[str]) -> str | None:
    """The choice a misspelt ``name`` most likely meant, case ignored, or None when none is close."""
    folded = {str(choice).casefold(): str(choice) for choice in choices}
    match = difflib.get_close_matches(str(name).casefold(), list(folded), n=1)
    return folded[match[0]] if match else None


def did_you_mean(name: object, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or nothing."""
    close = closest(name, choices)
    return f" (did you mean '{close}'?)" if close is not None else ""


def match_ignoring_case(name: str, names: Iterable[str]) -> str | None:
    """The one of ``names`` that ``name`` is up to case (itself when listed); None when none, or
    several, are."""
    names = list(names)
    if name in names:
        return name
    matches = [entry for entry in names if entry.casefold() == name.casefold()]
    return matches[0] if len(matches) == 1 else None


class Registry(Mapping[str, T], Generic[T]):
    """A name -> entry mapping whose failed lookups list the valid names.

    Args:
        kind: what an entry is, for messages (``"sampler"``, ``"metric protocol"`` ...).
        entries: the entries known when the registry is made, in listing order.
        discover: optional; called once, on first use, returning more entries (an entry it
            returns under a name already present is an error).
        hint: optional sentence appended to the message of a failed lookup.
        ignore_case: look names up whatever their case (when one entry alone matches).
    """

    def __init__(
        self,
        kind: str,
        entries: Mapping[str, T],
        discover: Callable[[], Mapping[str, T]] | None = None,
        hint: str = "",
        ignore_case: bool = False,
    ):
        self.kind = kind
        self._entries = dict(entries)
        self._discover = discover
        self._hint = hint
        self.ignore_case = ignore_case

    def _all(self) -> dict[str, T]:
        if self._discover is not None:
            discover, self._discover = self._discover, None
            for name, entry in discover().items():
                if name in self._entries and self._entries[name] is not entry:
                    raise ValueError(f"{self.kind} {name!r} is registered twice")
                self._entries[name] = entry
        return self._entries

    def register(self, name: str, entry: T, replace: bool = False) -> T:
        """Add ``entry`` under ``name`` and return it; a name already taken is an error unless
        ``replace`` (e.g. a test swapping in a deliberately broken sampler)."""
        entries = self._all()
        if name in entries and not replace:
            raise ValueError(f"{self.kind} {name!r} is registered already; pass replace=True to replace it")
        entries[name] = entry
        return entry

    def canonical(self, name: str) -> str:
        """The registered spelling of ``name``: itself, or (``ignore_case``) the one entry whose
        name it is up to case; :class:`UnknownName` otherwise."""
        entries = self._all()
        if name in entries:
            return name
        match = match_ignoring_case(name, entries) if self.ignore_case and isinstance(name, str) else None
        if match is not None:
            return match
        message = f"unknown {self.kind} {name!r}{did_you_mean(name, entries)}; choose one of: {', '.join(sorted(entries))}"
        raise UnknownName(f"{message}. {self._hint}" if self._hint else message)

    def __getitem__(self, name: str) -> T:
        return self._all()[self.canonical(name)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __contains__(self, name: object) -> bool:
        return name in self._all()

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._all())})"
