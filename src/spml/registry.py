"""Name -> builder tables that configuration chooses from (losses, models), as timm does."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

Entry = TypeVar("Entry")


def closest(word: str, choices: Iterable[str]) -> list[str]:
    """The (up to three) choices closest to a misspelt name, closest first."""
    return difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A "did you mean X? " hint naming the choices closest to a misspelt name ("" if none is)."""
    close = closest(word, choices)
    return f"did you mean {' or '.join(close)}? " if close else ""


class Registry(Generic[Entry]):
    """Builders reachable by name; a name is registered once, and a wrong one lists the rest."""

    def __init__(self, kind: str, parameter: str | None = None) -> None:
        self.kind = kind  # "loss", "model": how errors speak of an entry
        self.parameter = parameter  # the one parameter that names an entry, if there is one
        self._entries: dict[str, Entry] = {}

    def register(self, name: str) -> Callable[[Entry], Entry]:
        """A decorator that makes its target reachable as `name`, refusing a name taken twice."""

        def decorator(entry: Entry) -> Entry:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._entries[name] = entry
            return entry

        return decorator

    def names(self) -> list[str]:
        """The names configuration may use, sorted, for error messages and docs."""
        return sorted(self._entries)

    def __getitem__(self, name: str) -> Entry:
        if name not in self._entries:
            where = f" (parameter {self.parameter})" if self.parameter else ""
            raise ValueError(
                f"Unknown {self.kind} '{name}'{where}; "
                f"{did_you_mean(str(name), self.names())}choose one of {self.names()}"
            )
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self) -> list[tuple[str, Entry]]:
        """Every (name, entry) pair, in name order."""
        return [(name, self._entries[name]) for name in self.names()]
