"""Which backups a retention policy keeps, and why: pure code, no storage, no clock.

Rules are a union (as in borg and restic): a backup is kept when ANY rule keeps it.
- ``days``: every backup that started less than N days ago (the seed's RETENTION_DAYS).
- ``keep_last``: the newest N.
- ``keep_daily`` / ``keep_weekly`` / ``keep_monthly``: the newest backup of each of the
  newest N UTC days / ISO weeks / calendar months that have a backup.
Rules count each backup type (full, schema, data) on its own, so schema backups never
push full backups out. Two safety rules always apply on top:
- the newest full backup whose last verification passed (if none passed: the newest full
  backup not known to be bad; if all are bad: the newest full) is never deleted;
- anything a kept backup depends on (``depends_on``) is kept too, so incremental backups
  keep their base.
With no rule set at all nothing is deleted."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence

from .errors import ConfigError


@dataclass(frozen=True)
class Policy:
    days: Optional[int] = None
    keep_last: Optional[int] = None
    keep_daily: Optional[int] = None
    keep_weekly: Optional[int] = None
    keep_monthly: Optional[int] = None

    def rules(self) -> Dict[str, int]:
        """The rules that are set, by name."""
        return {name: value for name, value in (
            ("days", self.days), ("keep_last", self.keep_last), ("keep_daily", self.keep_daily),
            ("keep_weekly", self.keep_weekly), ("keep_monthly", self.keep_monthly))
            if value is not None}

    def validate(self) -> "Policy":
        for name, value in self.rules().items():
            if value < 0:
                raise ConfigError(f"retention {name}={value} is negative",
                                  "use 0 or a positive whole number, or leave it empty")
        return self

    def describe(self) -> str:
        words = {"days": "within {} days", "keep_last": "last {}", "keep_daily": "{} daily",
                 "keep_weekly": "{} weekly", "keep_monthly": "{} monthly"}
        rules = self.rules()
        if not rules:
            return "no rule set (keep everything)"
        return ", ".join(words[name].format(value) for name, value in rules.items())


@dataclass
class Item:
    """What retention needs to know about one backup."""

    id: str
    type: str
    time: dt.datetime  # when the backup started (its snapshot), UTC
    verified: Optional[bool] = None  # result of the last verification; None: never verified
    depends_on: List[str] = field(default_factory=list)  # refs "type/id"

    @property
    def ref(self) -> str:
        return f"{self.type}/{self.id}"


@dataclass
class Decision:
    ref: str
    id: str
    type: str
    time: str
    keep: bool
    reasons: List[str]

    def to_dict(self) -> Dict:
        return {"ref": self.ref, "id": self.id, "type": self.type, "time": self.time,
                "keep": self.keep, "reasons": list(self.reasons)}


def _bucketed(items: Sequence[Item], count: int, bucket: Callable[[dt.datetime], str],
              label: str, keep: Dict[str, List[str]]) -> None:
    """Newest backup of each of the newest ``count`` buckets (items are newest first)."""
    seen: List[str] = []
    for item in items:
        key = bucket(item.time)
        if key in seen:
            continue
        if len(seen) >= count:
            return
        seen.append(key)
        keep[item.ref].append(f"{label} {key}")


def _day(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def _week(moment: dt.datetime) -> str:
    year, week, _weekday = moment.isocalendar()
    return f"{year}-W{week:02d}"


def _month(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m")


def _protected_full(items: Sequence[Item]) -> Optional[Item]:
    """Newest full backup that verified good; else newest not known bad; else newest."""
    fulls = [i for i in items if i.type == "full"]  # newest first
    for test in (lambda i: i.verified is True, lambda i: i.verified is not False, lambda i: True):
        for item in fulls:
            if test(item):
                return item
    return None


def plan(items: Iterable[Item], policy: Policy, now: dt.datetime) -> List[Decision]:
    """A decision for every item, newest first, each with the reasons it is kept or deleted."""
    policy.validate()
    ordered = sorted(items, key=lambda i: (i.time, i.id), reverse=True)
    keep: Dict[str, List[str]] = {item.ref: [] for item in ordered}
    rules = policy.rules()
    if not rules:
        for item in ordered:
            keep[item.ref].append("no retention rule set")
    for kind in sorted({i.type for i in ordered}):
        of_kind = [i for i in ordered if i.type == kind]
        if policy.days is not None:
            horizon = now - dt.timedelta(days=policy.days)
            for item in of_kind:
                if item.time > horizon:
                    keep[item.ref].append(f"within {policy.days} days")
        if policy.keep_last is not None:
            for item in of_kind[:policy.keep_last]:
                keep[item.ref].append(f"last {policy.keep_last}")
        if policy.keep_daily:
            _bucketed(of_kind, policy.keep_daily, _day, "daily", keep)
        if policy.keep_weekly:
            _bucketed(of_kind, policy.keep_weekly, _week, "weekly", keep)
        if policy.keep_monthly:
            _bucketed(of_kind, policy.keep_monthly, _month, "monthly", keep)
    protected = _protected_full(ordered)
    if protected is not None:
        keep[protected.ref].append("newest verified full backup" if protected.verified
                                   else "newest full backup (never deleted)")
    _keep_dependencies(ordered, keep)
    decisions = []
    for item in ordered:
        reasons = keep[item.ref]
        if not reasons:
            reasons = [_why_not(policy)]
        decisions.append(Decision(ref=item.ref, id=item.id, type=item.type,
                                  time=item.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                  keep=bool(keep[item.ref]), reasons=reasons))
    return decisions


def _keep_dependencies(ordered: Sequence[Item], keep: Dict[str, List[str]]) -> None:
    """Whatever a kept backup needs is kept, transitively."""
    by_ref = {item.ref: item for item in ordered}
    pending = [item.ref for item in ordered if keep[item.ref]]
    while pending:
        ref = pending.pop()
        for needed in by_ref[ref].depends_on:
            if needed not in by_ref:
                continue  # not in this location; nothing here to protect
            reason = f"needed by {ref}"
            if reason in keep[needed]:
                continue
            was_kept = bool(keep[needed])
            keep[needed].append(reason)
            if not was_kept:
                pending.append(needed)


def _why_not(policy: Policy) -> str:
    return f"outside every rule ({policy.describe()})"
