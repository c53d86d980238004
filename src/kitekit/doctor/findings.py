"""What one check of ``kitekit doctor`` found: a status, what it saw, and the fix when it is not green."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Finding", "Status"]


class Status(StrEnum):
    """How a check came out. ``OK`` and ``INFO`` are green; the others come with a fix."""

    OK = "ok"
    #: An explanation rather than a measurement (a rule kitekit cannot check from here).
    INFO = "info"
    #: Works today, but needs attention (a dump not yet downloaded, a session about to expire).
    WARN = "warn"
    FAIL = "fail"
    #: Not checked, because an earlier check failed (no credentials: no session to look at).
    SKIP = "skip"

    @property
    def green(self) -> bool:
        """Return True when nothing needs doing."""
        return self in (Status.OK, Status.INFO)


@dataclass(frozen=True)
class Finding:
    """The outcome of one check.

    Attributes:
        check: the short name of what was checked (``session``, ``clock``).
        status: how it came out.
        detail: what was found, in a sentence (never a secret).
        fix: what to do about it, when the status is not green.
    """

    check: str
    status: Status
    detail: str
    fix: str = ""

    @classmethod
    def ok(cls, check: str, detail: str) -> Finding:
        """Return a green finding."""
        return cls(check, Status.OK, detail)

    @classmethod
    def fail(cls, check: str, detail: str, fix: str) -> Finding:
        """Return a failed finding with its fix."""
        return cls(check, Status.FAIL, detail, fix)

    @classmethod
    def warn(cls, check: str, detail: str, fix: str) -> Finding:
        """Return a finding that needs attention, with what to do."""
        return cls(check, Status.WARN, detail, fix)
