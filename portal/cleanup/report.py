"""What a cleanup job found and did: one line per resource, with the reason (no Django)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Outcome(StrEnum):
    REMOVED = "removed"
    WOULD_REMOVE = "would remove"  # a dry run
    KEPT = "kept"
    FAILED = "failed"


@dataclass(frozen=True)
class Line:
    kind: str  # container, volume, network, hub user, workspace
    name: str
    owner: str
    outcome: str
    reason: str


@dataclass
class Report:
    job: str
    dry_run: bool
    lines: list[Line] = field(default_factory=list)
    # Parts that could not be looked at (the hub or the engine did not answer): nothing was
    # removed on their account.
    errors: list[str] = field(default_factory=list)

    def add(self, kind: str, name: str, owner: str, outcome: str, reason: str) -> None:
        self.lines.append(Line(kind, name, owner, str(outcome), reason))

    def count(self, outcome: str) -> int:
        return sum(1 for line in self.lines if line.outcome == outcome)

    @property
    def summary(self) -> str:
        done = Outcome.WOULD_REMOVE if self.dry_run else Outcome.REMOVED
        text = (
            f"{self.job}: {len(self.lines)} found, {self.count(done)} {done}, "
            f"{self.count(Outcome.KEPT)} kept, {self.count(Outcome.FAILED)} failed"
        )
        return text + (f"; not checked: {'; '.join(self.errors)}" if self.errors else "")

    def to_dict(self) -> dict:
        return {
            "job": self.job,
            "dry_run": self.dry_run,
            "summary": self.summary,
            "errors": self.errors,
            "lines": [asdict(line) for line in self.lines],
        }
