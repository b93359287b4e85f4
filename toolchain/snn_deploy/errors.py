"""Errors a user can act on, and the Violation record that checks return.

Every error that reaches the CLI is an :class:`SnnDeployError`: the CLI prints its message (one
line, plus an optional ``hint:`` line) and exits non-zero, without a traceback. Any other
exception is a bug in snn-deploy: the CLI prints one ``internal error:`` line naming the file
where it saved the traceback, and exits with its own code (``cli.INTERNAL_ERROR_EXIT``).

Message shape (``../shared/STYLE.md`` section 6): where (layer, core), what, number vs limit, the
profile key, then the fix on a ``hint:`` line.
"""

from __future__ import annotations

from dataclasses import dataclass


class SnnDeployError(Exception):
    """Base class of every error meant for the user.

    ``hint`` says what to do about it; the CLI prints it on its own line.
    """

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        message, hint = _one_line(self.message), _one_line(self.hint or "")
        return message if not hint else f"{message}\n  hint: {hint}"


def _one_line(text: str) -> str:
    """Text on one line: a value quoted into a message (a tensor's repr) may hold newlines."""
    return " ".join(text.split()) if "\n" in text else text


class InputFileError(SnnDeployError):
    """A file the user gave is missing, unreadable or not what it claims to be."""

    exit_code = 2


class UsageError(SnnDeployError):
    """A command-line option (or API argument) has a value outside its accepted range."""

    exit_code = 2


class ModelError(SnnDeployError):
    """The model is readable but its content is invalid (NaN weights, shapes, unknown layers)."""

    exit_code = 3


class UnsupportedError(SnnDeployError):
    """The model uses something snn-deploy or the target does not support."""

    exit_code = 3


class ProfileError(SnnDeployError):
    """A hardware profile is missing, malformed or names an unknown target."""

    exit_code = 2


class ResourceError(SnnDeployError):
    """The model breaks one or more limits of the hardware profile.

    Carries every :class:`Violation` found, so the user sees all of them at once.
    """

    exit_code = 4

    def __init__(self, violations: list[Violation] | tuple[Violation, ...], summary: str = ""):
        self.violations = tuple(violations)
        lines = [v.format() for v in self.violations]
        head = summary or f"{len(self.violations)} limit(s) of the target broken"
        super().__init__(head + ":\n" + "\n".join(lines))

    def __str__(self) -> str:
        return self.message


class VerificationError(SnnDeployError):
    """Two stages that must agree (float vs integer, emulator vs Lava) do not."""

    exit_code = 5


class BackendError(SnnDeployError):
    """A backend could not run (Lava environment missing, subprocess failed)."""

    exit_code = 6


@dataclass(frozen=True)
class Violation:
    """One broken limit: where, what, the number against the limit, the profile key and the fix.

    ``layer`` and ``core`` locate it (either may be empty); ``what`` names the quantity;
    ``value`` and ``limit`` are numbers or short strings; ``key`` is ``file [section].key``.
    """

    layer: str
    what: str
    value: object
    limit: object
    key: str
    fix: str
    core: int | None = None
    relation: str = "exceeds"

    def format(self) -> str:
        where = f"layer '{self.layer}'" if self.layer else "network"
        if self.core is not None:
            where += f" on core {self.core}"
        value = f"{self.value:,}" if isinstance(self.value, int) else str(self.value)
        limit = f"{self.limit:,}" if isinstance(self.limit, int) else str(self.limit)
        head = f"error: {where}: {self.what} {value} {self.relation} {limit} ({self.key})"
        return f"{head}\n  hint: {self.fix}"

    def to_dict(self) -> dict:
        return {
            "layer": self.layer,
            "core": self.core,
            "what": self.what,
            "value": self.value if isinstance(self.value, (int, float, str)) else str(self.value),
            "limit": self.limit if isinstance(self.limit, (int, float, str)) else str(self.limit),
            "relation": self.relation,
            "key": self.key,
            "fix": self.fix,
        }
