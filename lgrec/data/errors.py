"""Errors raised for bad input: each names the file, the line and the field at fault."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """Input data that cannot be used, located as precisely as the reader can.

    The string form reads ``path:line: field 'name': what was expected`` so that a user can
    jump straight to the offending place.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        field = f"field '{self.field}': " if self.field else ""
        return f"{where}{field}{self.message}"
