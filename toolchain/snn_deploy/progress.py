"""Progress bars on stderr (tqdm), for a person at a terminal only.

A bar is drawn when ``enabled`` and stderr is a terminal; otherwise :func:`bar` returns a no-op
with the same methods, so results on stdout and logs are never mixed with bar output. The CLI
turns bars off with ``--quiet``.
"""

from __future__ import annotations

import sys


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def wanted(quiet: bool = False) -> bool:
    """Bars are drawn when not ``quiet`` and stderr is a terminal."""
    return not quiet and sys.stderr.isatty()


def bar(total: int, desc: str, unit: str = "it", enabled: bool = True):
    """A tqdm bar on stderr, or a no-op when not ``enabled`` or stderr is not a terminal."""
    if not enabled or not sys.stderr.isatty():
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)
