"""The pure parts of notifications and metrics: what a message says, the channels' size
limits, which records count for which metric."""
import json

from prometheus_client.parser import text_string_to_metric_families

from sandstone_backup import config, metrics, notify

FAILED = {"operation": "backup.full", "database": "app", "outcome": "failure", "who": "ops@db1",
          "host": "db1", "started_at": "2026-01-26T02:00:00Z", "finished_at": "2026-01-26T02:00:09Z",
          "duration_seconds": 9.4, "backup_id": None, "error": "pg_dump failed: out of memory",
          "hint": "free memory on db1 and run 'sandstone-backup full' again"}


def settings(**values):
    return config.load(values, environ={})


def test_a_failure_message_names_the_operation_error_and_next_step():
    message = notify.build_message(settings(LOG_DIR="/var/log/sandstone"), FAILED)
    assert message.title == "FAILED: full backup of app on db1"
    text = message.text()
    assert "Duration:  9.4 s" in text
    assert "Error:     pg_dump failed: out of memory" in text
    assert "Next step: free memory on db1 and run 'sandstone-backup full' again" in text


def test_a_failure_without_a_hint_points_at_the_log_file():
    record = dict(FAILED, hint=None, error="ValueError: boom")
    message = notify.build_message(settings(LOG_DIR="/var/log/sandstone"), record)
    assert message.problems == [("ValueError: boom",
                                 "read /var/log/sandstone/sandstone-backup.log on db1")]


def test_sizes_read_well_and_stay_exact():
    assert notify._bytes(512) == "512 bytes"
    assert notify._bytes(5 * 1024 * 1024) == "5.0 MiB (5242880 bytes)"


def test_payloads_stay_within_slack_and_discord_limits():
    huge = dict(FAILED, error="x" * 10000, hint="y" * 10000, location="/" + "z" * 3000)
    message = notify.build_message(settings(), huge)
    discord = notify.discord_payload(message)
    embed = discord["embeds"][0]
    assert len(discord["content"]) <= 2000 and len(embed["title"]) <= 256
    assert len(embed["description"]) <= 4096
    assert all(len(f["value"]) <= 1024 for f in embed["fields"]) and len(embed["fields"]) <= 25
    slack = notify.slack_payload(message)
    blocks = slack["attachments"][0]["blocks"]
    assert len(blocks[0]["text"]["text"]) <= 150
    assert all(len(f["text"]) <= 2000 for f in blocks[1]["fields"]) and len(blocks[1]["fields"]) <= 10
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks[2:])
    json.dumps(slack), json.dumps(discord)


def test_only_failures_and_warnings_are_wanted_unless_notify_on_always():
    ok = dict(FAILED, outcome="success")
    assert notify.wanted(settings(), FAILED) and notify.wanted(settings(), dict(ok, outcome="warning"))
    assert not notify.wanted(settings(), ok)
    assert notify.wanted(settings(NOTIFY_ON="always"), ok)
    assert not notify.wanted(settings(NOTIFY_ON="always"), dict(ok, dry_run=True))


def test_email_is_on_when_host_and_recipients_are_set_unless_disabled():
    assert not notify.email_enabled(settings(EMAIL_SMTP_HOST="smtp.example.com"))
    assert notify.email_enabled(settings(EMAIL_SMTP_HOST="smtp.example.com", EMAIL_TO="a@x, b@y"))
    assert not notify.email_enabled(settings(EMAIL_SMTP_HOST="h", EMAIL_TO="a@x", EMAIL_ENABLED=False))
    assert notify.recipients(settings(EMAIL_TO=" a@x ,, b@y ")) == ["a@x", "b@y"]


def test_secrets_are_scrubbed_from_error_texts():
    url = "https://hooks.slack.com/services/T0/B0/tokentoken"
    text = f"unknown url type: {url} (path /services/T0/B0/tokentoken)"
    assert "tokentoken" not in notify._scrub(text, notify._url_secrets(url))
    assert notify._scrub("a/b/c", ["/"]) == "a/b/c"  # too short to be a secret


def test_metrics_take_the_newest_record_of_each_kind():
    records = [
        {"operation": "backup.full", "outcome": "success", "finished_at": "2026-01-01T00:00:00Z",
         "duration_seconds": 5, "size": 100},
        {"operation": "backup.full", "outcome": "success", "finished_at": "2026-01-02T00:00:00Z",
         "duration_seconds": 7, "size": 200},
        {"operation": "backup.full", "outcome": "failure", "finished_at": "2026-01-03T00:00:00Z"},
        {"operation": "verify", "outcome": "failure", "finished_at": "2026-01-04T00:00:00Z"},
        {"operation": "check", "outcome": "warning", "finished_at": "2026-01-05T00:00:00Z",
         "warnings": [{}], "slots": [{"slot_name": "s1", "lag_bytes": 42}]},
    ]
    from prometheus_client import generate_latest
    text = generate_latest(metrics.registry_for(metrics.state(records))).decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples[("sandstone_backup_last_size_bytes", (("type", "full"),))] == 200
    assert samples[("sandstone_backup_last_duration_seconds", (("type", "full"),))] == 7
    assert samples[("sandstone_backup_last_success_timestamp_seconds", (("type", "full"),))] == 1767312000
    assert samples[("sandstone_backup_last_failure_timestamp_seconds",
                    (("operation", "backup.full"),))] == 1767398400
    assert samples[("sandstone_backup_last_verify_ok", ())] == 0
    assert samples[("sandstone_replication_slot_lag_bytes", (("slot", "s1"),))] == 42
    assert samples[("sandstone_backup_check_warnings", ())] == 1


def test_text_from_outside_cannot_format_or_mention():
    record = dict(FAILED, error="table app.no_such_table: <!channel> & *bold*")
    message = notify.build_message(settings(), record)
    slack = json.dumps(notify.slack_payload(message))
    assert "<!channel>" not in slack and "&lt;!channel&gt; &amp; *bold*" in slack
    discord = notify.discord_payload(message)["embeds"][0]["description"]
    assert "no\\_such\\_table" in discord and "\\*bold\\*" in discord


def test_unusable_settings_fail_the_delivery_with_a_clear_reason_not_the_caller():
    message = notify.build_message(settings(), FAILED)
    [slack] = notify.send(settings(SLACK_WEBHOOK_URL="hooks.slack.com/services/T/B/secrettoken"), message)
    assert not slack.ok and slack.attempts == 1
    assert slack.error == "the webhook URL is not an https:// URL"
    [mail] = notify.send(settings(EMAIL_SMTP_HOST="127.0.0.1", EMAIL_TO="a@example.test",
                                  EMAIL_SMTP_CA_FILE="/nonexistent/ca.pem"), message)
    assert not mail.ok and mail.attempts == 1
    assert mail.error.startswith("EMAIL_SMTP_CA_FILE /nonexistent/ca.pem cannot be used")
    [mail] = notify.send(settings(EMAIL_ENABLED=True, EMAIL_TO="a@example.test"), message)
    assert mail.error == "EMAIL_ENABLED is true but EMAIL_SMTP_HOST or EMAIL_TO is empty"
