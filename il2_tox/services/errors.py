"""What a use case raises when it will not do what it was asked, and why.

`Refused`: the input is wrong; it names every field at fault, so a form can put each message
beside its field and a command line can print one line. `PermissionDenied`: the actor may not do
this (signed out, inactive, or the wrong role). Nothing is written in either case.
"""

from __future__ import annotations

from collections.abc import Mapping


class Refused(ValueError):
    """Input refused; `errors` maps each field at fault to its message (never empty).

    `str()` is one line, `field: message; field: message`. `field` is the first field at fault.
    """

    def __init__(self, errors: Mapping[str, str]) -> None:
        if not errors:
            raise ValueError("Refused needs at least one field and message")
        self.errors: dict[str, str] = dict(errors)
        super().__init__("; ".join(f"{name}: {message}" for name, message in self.errors.items()))

    @property
    def field(self) -> str:
        """The first field at fault (as `CourseError.field`)."""
        return next(iter(self.errors))


class PermissionDenied(PermissionError):
    """The actor may not do this; `str()` is one line a person can read."""
