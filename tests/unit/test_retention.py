"""Retention rules on dated backups: exactly which ids each policy keeps, and why."""
import datetime as dt

import pytest

from sandstone_backup.errors import ConfigError
from sandstone_backup.retention import Item, Policy, plan

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 3, 15, 12, 0, tzinfo=UTC)  # a Sunday


def at(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def item(when: str, kind: str = "full", verified=None, depends_on=()) -> Item:
    moment = at(when)
    return Item(id=moment.strftime("%Y%m%dT%H%M%SZ"), type=kind, time=moment,
                verified=verified, depends_on=list(depends_on))


def kept(decisions):
    return sorted(d.id for d in decisions if d.keep)


def deleted(decisions):
    return sorted(d.id for d in decisions if not d.keep)


def reasons(decisions, backup_id):
    return next(d.reasons for d in decisions if d.id == backup_id)


def nightly(days: int, hour: int = 2, kind: str = "full"):
    """One backup a night for ``days`` nights ending the night of NOW."""
    start = NOW.replace(hour=hour, minute=0) - dt.timedelta(days=days - 1)
    return [item((start + dt.timedelta(days=n)).strftime("%Y-%m-%d %H:%M"), kind)
            for n in range(days)]


def test_days_keeps_backups_younger_than_the_horizon():
    items = nightly(10)  # 03-06 .. 03-15 at 02:00
    decisions = plan(items, Policy(days=3), NOW)
    # horizon 03-12 12:00: 03-13, 03-14, 03-15 are younger
    assert kept(decisions) == ["20260313T020000Z", "20260314T020000Z", "20260315T020000Z"]
    assert reasons(decisions, "20260314T020000Z") == ["within 3 days"]
    assert len(deleted(decisions)) == 7
    assert "outside every rule (within 3 days)" in reasons(decisions, "20260306T020000Z")


def test_everything_older_than_retention_still_keeps_the_newest_good_full():
    items = [item("2026-01-01 02:00", verified=True), item("2026-01-02 02:00", verified=True),
             item("2026-01-03 02:00", verified=False), item("2026-01-02 03:00", "schema")]
    decisions = plan(items, Policy(days=30), NOW)
    # the newest full failed its verification: the newest one that passed is kept instead
    assert kept(decisions) == ["20260102T020000Z"]
    assert reasons(decisions, "20260102T020000Z") == ["newest verified full backup"]
    assert deleted(decisions) == ["20260101T020000Z", "20260102T030000Z", "20260103T020000Z"]


def test_no_verified_full_keeps_the_newest_full_not_known_bad():
    items = [item("2026-01-01 02:00"), item("2026-01-02 02:00"),
             item("2026-01-03 02:00", verified=False)]
    decisions = plan(items, Policy(days=7), NOW)
    assert kept(decisions) == ["20260102T020000Z"]
    assert reasons(decisions, "20260102T020000Z") == ["newest full backup (never deleted)"]


def test_all_fulls_bad_still_keeps_the_newest_full():
    items = [item("2026-01-01 02:00", verified=False), item("2026-01-02 02:00", verified=False)]
    assert kept(plan(items, Policy(days=1), NOW)) == ["20260102T020000Z"]


def test_retention_zero_days_keeps_only_the_protected_full():
    items = nightly(3) + nightly(3, kind="schema")
    decisions = plan(items, Policy(days=0), NOW)
    assert kept(decisions) == ["20260315T020000Z"]
    assert [d.type for d in decisions if d.keep] == ["full"]


def test_keep_last_counts_each_type_on_its_own():
    items = nightly(5) + nightly(5, hour=3, kind="schema")
    decisions = plan(items, Policy(keep_last=2), NOW)
    assert kept(decisions) == ["20260314T020000Z", "20260314T030000Z",
                               "20260315T020000Z", "20260315T030000Z"]
    assert reasons(decisions, "20260314T030000Z") == ["last 2"]
    assert reasons(decisions, "20260315T020000Z") == ["last 2", "newest full backup (never deleted)"]


def test_keep_daily_takes_the_newest_of_each_utc_day():
    items = [item("2026-03-15 01:00"), item("2026-03-15 11:00"),
             item("2026-03-14 23:59"), item("2026-03-14 00:00"),
             item("2026-03-12 10:00"),  # 03-13 has none: a day without backups does not count
             item("2026-03-11 10:00")]
    decisions = plan(items, Policy(keep_daily=3), NOW)
    assert kept(decisions) == ["20260312T100000Z", "20260314T235900Z", "20260315T110000Z"]
    assert reasons(decisions, "20260314T235900Z") == ["daily 2026-03-14"]
    assert reasons(decisions, "20260312T100000Z") == ["daily 2026-03-12"]


def test_keep_weekly_buckets_by_iso_week():
    # ISO week 2026-W11 runs Mon 03-09 .. Sun 03-15; W10 is 03-02 .. 03-08.
    items = [item("2026-03-15 02:00"), item("2026-03-09 00:30"),  # W11
             item("2026-03-08 23:00"), item("2026-03-02 02:00"),  # W10
             item("2026-03-01 02:00"),  # W09
             item("2026-02-20 02:00")]  # W08
    decisions = plan(items, Policy(keep_weekly=3), NOW)
    assert kept(decisions) == ["20260301T020000Z", "20260308T230000Z", "20260315T020000Z"]
    assert reasons(decisions, "20260308T230000Z") == ["weekly 2026-W10"]


def test_keep_weekly_across_the_new_year_uses_the_iso_year():
    # 2025-12-29 (Mon) .. 2026-01-04 (Sun) is ISO week 2026-W01
    items = [item("2026-01-04 02:00"), item("2025-12-29 02:00"), item("2025-12-28 02:00")]
    decisions = plan(items, Policy(keep_weekly=2), NOW)
    assert kept(decisions) == ["20251228T020000Z", "20260104T020000Z"]
    assert reasons(decisions, "20260104T020000Z") == [
        "weekly 2026-W01", "newest full backup (never deleted)"]
    assert reasons(decisions, "20251228T020000Z") == ["weekly 2025-W52"]


def test_keep_monthly_takes_the_newest_of_each_month():
    items = [item("2026-03-01 02:00"), item("2026-02-28 02:00"), item("2026-02-01 02:00"),
             item("2026-01-31 23:59"), item("2025-12-31 02:00"), item("2025-11-30 02:00")]
    decisions = plan(items, Policy(keep_monthly=3), NOW)
    assert kept(decisions) == ["20260131T235900Z", "20260228T020000Z", "20260301T020000Z"]
    assert reasons(decisions, "20260131T235900Z") == ["monthly 2026-01"]


def test_gfs_rules_are_a_union():
    """90 nights of backups with 7 daily, 4 weekly, 3 monthly and the last 2."""
    items = nightly(90)  # 2025-12-16 .. 2026-03-15
    decisions = plan(items, Policy(keep_last=2, keep_daily=7, keep_weekly=4, keep_monthly=3), NOW)
    daily = [f"202603{d:02d}T020000Z" for d in range(9, 16)]      # 03-09 .. 03-15
    weekly = ["20260222T020000Z", "20260301T020000Z", "20260308T020000Z"]  # Sundays + W11's 03-15
    monthly = ["20260131T020000Z", "20260228T020000Z"]            # + March's 03-15
    assert kept(decisions) == sorted(daily + weekly + monthly)
    assert reasons(decisions, "20260315T020000Z") == [
        "last 2", "daily 2026-03-15", "weekly 2026-W11", "monthly 2026-03",
        "newest full backup (never deleted)"]
    assert reasons(decisions, "20260222T020000Z") == ["weekly 2026-W08"]
    assert len(deleted(decisions)) == 90 - 12


def test_days_and_counts_together():
    items = nightly(20)
    decisions = plan(items, Policy(days=2, keep_weekly=2), NOW)
    # within 2 days: 03-14, 03-15; weekly: W11 -> 03-15, W10 -> 03-08
    assert kept(decisions) == ["20260308T020000Z", "20260314T020000Z", "20260315T020000Z"]


def test_dependencies_of_kept_backups_are_kept():
    base = item("2026-01-01 02:00")
    older = item("2025-12-01 02:00")
    inc1 = item("2026-03-14 02:00", "incremental", depends_on=[base.ref])
    inc2 = item("2026-03-15 02:00", "incremental", depends_on=[inc1.ref])
    stale = item("2026-01-02 02:00", "incremental", depends_on=[older.ref])
    newer_full = item("2026-02-01 02:00", verified=True)
    decisions = plan([base, older, inc1, inc2, stale, newer_full], Policy(days=1), NOW)
    # inc2 is within a day; it needs inc1, which needs base. stale and older go.
    assert kept(decisions) == sorted([base.id, inc1.id, inc2.id, newer_full.id])
    assert reasons(decisions, inc1.id) == [f"needed by {inc2.ref}"]
    assert reasons(decisions, base.id) == [f"needed by {inc1.ref}"]
    assert deleted(decisions) == sorted([older.id, stale.id])


def test_no_rule_keeps_everything():
    items = nightly(5)
    decisions = plan(items, Policy(), NOW)
    assert deleted(decisions) == []
    assert reasons(decisions, "20260311T020000Z") == ["no retention rule set"]


def test_decisions_are_newest_first_and_negative_values_are_refused():
    decisions = plan(nightly(3), Policy(keep_last=1), NOW)
    assert [d.id for d in decisions] == ["20260315T020000Z", "20260314T020000Z", "20260313T020000Z"]
    with pytest.raises(ConfigError, match="keep_last=-1 is negative"):
        plan(nightly(1), Policy(keep_last=-1), NOW)
