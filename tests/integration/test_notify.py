"""Notifications through real receivers: a loopback HTTP server records the Slack- and
Discord-shaped webhook requests, aiosmtpd records the mail. Every run is the real CLI."""
import json
import re

import pytest

from tests.support.receivers import port_is_closed

SLACK_PATH = "/services/T0001/B0001/slacksecrettoken"
DISCORD_PATH = "/api/webhooks/123456/discordsecrettoken"


def notify_env(cli_env, hooks=None, smtp=None, **extra):
    env = dict(cli_env)
    if hooks is not None:
        env.update(SLACK_WEBHOOK_URL=hooks.url(SLACK_PATH), DISCORD_WEBHOOK_URL=hooks.url(DISCORD_PATH))
    if smtp is not None:
        env.update(EMAIL_SMTP_HOST="127.0.0.1", EMAIL_SMTP_PORT=str(smtp.port),
                   EMAIL_SMTP_SECURITY="none", EMAIL_FROM="backups@example.test",
                   EMAIL_TO="oncall@example.test, dba@example.test")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def audit_records(workdir):
    path = workdir / "logs" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def slack_text(payload) -> str:
    """Everything a person sees in the Slack message."""
    parts = [payload["text"]]
    for attachment in payload["attachments"]:
        for block in attachment["blocks"]:
            if "text" in block:
                parts.append(block["text"]["text"])
            parts += [f["text"] for f in block.get("fields", [])]
    return "\n".join(parts)


def unescape(text: str) -> str:
    """What Discord shows for markdown-escaped text (no_such\\_table -> no_such_table)."""
    return re.sub(r"\\(.)", r"\1", text)


def discord_fields(payload):
    return {f["name"]: unescape(f["value"]) for f in payload["embeds"][0]["fields"]}


def test_failed_backup_notifies_slack_discord_and_email_with_error_and_next_step(
        cli, cli_env, webhook_receiver, smtp_receiver, source_db, workdir):
    env = notify_env(cli_env, webhook_receiver, smtp_receiver)
    result = cli("data", "app.no_such_table", env=env, check=False)
    assert result.code != 0
    error = result.err.strip().split("error: ", 1)[1]  # "message: hint" as the CLI says it
    message, hint = audit_records(workdir)[-1]["error"], audit_records(workdir)[-1]["hint"]
    assert error == f"{message}: {hint}" and "no_such_table" in message and hint

    [slack] = webhook_receiver.on(SLACK_PATH)
    assert slack.method == "POST" and slack.headers["Content-Type"] == "application/json"
    payload = slack.json()
    assert payload["text"].startswith("FAILED: data backup of " + source_db)
    assert payload["attachments"][0]["color"] == "#e01e5a"
    text = slack_text(payload)
    assert message in text and hint in text and "Next step" in text

    [discord] = webhook_receiver.on(DISCORD_PATH)
    payload = discord.json()
    embed = payload["embeds"][0]
    assert embed["title"].startswith("FAILED: data backup of " + source_db)
    assert embed["color"] == 0xE01E5A and payload["allowed_mentions"] == {"parse": []}
    fields = discord_fields(payload)
    assert fields["Database"] == source_db and fields["Outcome"] == "failure"
    assert message in unescape(embed["description"]) and hint in unescape(embed["description"])

    [mail] = smtp_receiver.mails
    assert mail.mail_from == "backups@example.test"
    assert mail.rcpt_tos == ["oncall@example.test", "dba@example.test"]
    assert mail.message["Subject"] == f"[sandstone-backup] {embed['title']}"
    assert f"Error:     {message}" in mail.body and f"Next step: {hint}" in mail.body
    assert f"Database:  {source_db}" in mail.body


def test_success_is_notified_only_with_notify_on_always(cli, cli_env, webhook_receiver,
                                                         smtp_receiver, source_db, workdir):
    env = notify_env(cli_env, webhook_receiver, smtp_receiver)
    cli("schema", env=env)
    assert webhook_receiver.requests == [] and smtp_receiver.mails == []

    env["NOTIFY_ON"] = "always"
    backup = cli("full", "--json", env=env).json()
    size, location = backup["manifest"]["size"], backup["location"]
    record = audit_records(workdir)[-1]
    assert record["operation"] == "backup.full" and record["size"] == size

    [slack] = webhook_receiver.on(SLACK_PATH)
    text = slack_text(slack.json())
    assert text.startswith(f"OK: full backup of {source_db}")
    assert f"{size} bytes" in text.split("*Size*\n", 1)[1].split("\n")[0]
    assert f"*Location*\n{location}" in text and f"*Backup*\n{backup['backup_id']}" in text
    assert f"*Duration*\n{record['duration_seconds']:.1f} s" in text

    [discord] = webhook_receiver.on(DISCORD_PATH)
    fields = discord_fields(discord.json())
    assert fields["Location"] == location and fields["Backup"] == backup["backup_id"]
    assert fields["Outcome"] == "success" and "description" not in discord.json()["embeds"][0]

    [mail] = smtp_receiver.mails
    assert mail.message["Subject"] == f"[sandstone-backup] OK: full backup of {source_db} on {record['host']}"
    assert f"Location:  {location}" in mail.body and "Error:" not in mail.body


def test_receivers_down_do_not_fail_the_backup_and_the_failure_is_logged(
        cli, cli_env, closed_port, workdir):
    dead = f"http://127.0.0.1:{closed_port}"
    env = notify_env(cli_env, NOTIFY_ON="always", SLACK_WEBHOOK_URL=dead + SLACK_PATH,
                     DISCORD_WEBHOOK_URL=dead + DISCORD_PATH, EMAIL_SMTP_HOST="127.0.0.1",
                     EMAIL_SMTP_PORT=closed_port, EMAIL_SMTP_SECURITY="none",
                     EMAIL_TO="oncall@example.test", EMAIL_SMTP_USER="mailer",
                     EMAIL_SMTP_PASSWORD="smtp-secret-password")
    assert port_is_closed(closed_port)
    result = cli("full", "--json", env=env)  # check=True: exit 0
    backup = result.json()
    assert (workdir / "storage" / "full" / backup["backup_id"] / "manifest.json").exists()

    for channel in ("slack", "discord", "email"):
        assert f"notification by {channel} failed after 3 attempt(s)" in result.err
    log_text = (workdir / "logs" / "sandstone-backup.log").read_text()
    assert "notification by slack failed" in log_text
    records = audit_records(workdir)
    assert [r["operation"] for r in records] == ["backup.full", "notify"]
    assert records[0]["outcome"] == "success"
    failure = records[1]
    assert failure["outcome"] == "failure" and failure["for_operation"] == "backup.full"
    assert failure["backup_id"] == backup["backup_id"]
    assert {c["channel"]: c["ok"] for c in failure["channels"]} == \
        {"slack": False, "discord": False, "email": False}
    everything = result.err + log_text + (workdir / "logs" / "audit.jsonl").read_text()
    for secret in ("slacksecrettoken", "discordsecrettoken", "smtp-secret-password"):
        assert secret not in everything


def test_webhook_is_retried_after_a_server_error(cli, cli_env, webhook_receiver, workdir):
    webhook_receiver.fail_next(503)
    env = notify_env(cli_env, NOTIFY_ON="always", SLACK_WEBHOOK_URL=webhook_receiver.url(SLACK_PATH))
    result = cli("schema", env=env)
    assert len(webhook_receiver.on(SLACK_PATH)) == 2  # 503, then delivered
    assert webhook_receiver.on(SLACK_PATH)[0].body == webhook_receiver.on(SLACK_PATH)[1].body
    assert "notification" not in result.err
    assert [r["operation"] for r in audit_records(workdir)] == ["backup.schema"]


def test_webhook_rejection_is_not_retried(cli, cli_env, webhook_receiver, workdir):
    webhook_receiver.fail_next(404)
    env = notify_env(cli_env, NOTIFY_ON="always", SLACK_WEBHOOK_URL=webhook_receiver.url(SLACK_PATH))
    result = cli("schema", env=env)
    assert len(webhook_receiver.on(SLACK_PATH)) == 1
    assert "notification by slack failed after 1 attempt(s): HTTP 404" in result.err
    assert audit_records(workdir)[-1]["error"].startswith("slack: HTTP 404")


def test_email_over_starttls_with_login(cli, cli_env, smtp_factory, smtp_cert, workdir):
    smtp = smtp_factory("starttls", smtp_cert, users={"mailer": "right-password"})
    env = notify_env(cli_env, smtp=smtp, NOTIFY_ON="always", EMAIL_SMTP_SECURITY="starttls",
                     EMAIL_SMTP_CA_FILE=smtp_cert.cert_file, EMAIL_SMTP_USER="mailer",
                     EMAIL_SMTP_PASSWORD="right-password")
    cli("schema", env=env)
    [mail] = smtp.mails
    assert mail.tls is True and mail.login == "mailer"
    assert mail.message["Subject"].startswith("[sandstone-backup] OK: schema backup of ")

    env["EMAIL_SMTP_PASSWORD"] = "wrong-password"
    result = cli("schema", env=env)
    assert len(smtp.mails) == 1
    assert "notification by email failed after 1 attempt(s): SMTP 535" in result.err
    assert "wrong-password" not in result.err + (workdir / "logs" / "audit.jsonl").read_text()


def test_email_starttls_refuses_an_untrusted_certificate(cli, cli_env, smtp_factory, smtp_cert):
    smtp = smtp_factory("starttls", smtp_cert)
    env = notify_env(cli_env, smtp=smtp, NOTIFY_ON="always", EMAIL_SMTP_SECURITY="starttls")
    result = cli("schema", env=env)  # no EMAIL_SMTP_CA_FILE: the self-signed cert is not trusted
    assert smtp.mails == []
    assert "notification by email failed after 1 attempt(s): TLS with 127.0.0.1" in result.err
    assert "CERTIFICATE_VERIFY_FAILED" in result.err


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_email_over_implicit_tls(cli, cli_env, smtp_factory, smtp_cert):
    smtp = smtp_factory("tls", smtp_cert, users={"mailer": "pw"})
    env = notify_env(cli_env, smtp=smtp, NOTIFY_ON="always", EMAIL_SMTP_SECURITY="tls",
                     EMAIL_SMTP_CA_FILE=smtp_cert.cert_file, EMAIL_SMTP_USER="mailer",
                     EMAIL_SMTP_PASSWORD="pw")
    cli("schema", env=env)
    [mail] = smtp.mails
    assert mail.tls is True and mail.login == "mailer"


def test_email_disabled_explicitly_sends_nothing(cli, cli_env, smtp_receiver):
    env = notify_env(cli_env, smtp=smtp_receiver, NOTIFY_ON="always", EMAIL_ENABLED="false")
    cli("schema", env=env)
    assert smtp_receiver.mails == []


@pytest.mark.parametrize("bad", ["NOTIFY_ON=sometimes", "EMAIL_SMTP_SECURITY=ssl"])
def test_bad_notification_settings_are_refused_before_anything_runs(cli, cli_env, workdir, bad):
    name, value = bad.split("=")
    result = cli("full", env=dict(cli_env, **{name: value}), check=False)
    assert result.code == 2
    assert f"{name}='{value}' from environment is not one of" in result.err
    assert list((workdir / "storage").iterdir()) == []


def test_a_module_failure_is_notified_from_the_managed_hosts_config(
        tmp_path, pg_server, source_db, webhook_receiver):
    import textwrap

    from tests.support.ansible_run import run_playbook, task_results

    conf = tmp_path / "backup.conf"
    conf.write_text(f"SLACK_WEBHOOK_URL={webhook_receiver.url(SLACK_PATH)}\n"
                    f"LOG_DIR={tmp_path / 'logs'}\n")
    playbook = textwrap.dedent(f"""
        - hosts: localhost
          gather_facts: false
          tasks:
            - name: backup of a table that does not exist
              sandstone.backup.pg_backup:
                db_url: "{pg_server.url(source_db)}"
                backup_dir: "{tmp_path / 'storage'}"
                config_file: "{conf}"
                type: data
                tables: [app.no_such_table]
              ignore_errors: true
        """)
    result = task_results(run_playbook(tmp_path, playbook))["backup of a table that does not exist"]
    assert result["failed"] and "no_such_table" in result["msg"]
    [slack] = webhook_receiver.on(SLACK_PATH)
    text = slack_text(slack.json())
    assert text.startswith(f"FAILED: data backup of {source_db}")
    assert result["msg"].split(": ")[0] in text  # the same message the task reports
    [record] = audit_records(tmp_path)
    assert record["operation"] == "backup.data" and record["outcome"] == "failure"


def test_a_unit_that_died_silently_is_reported_once(cli, cli_env, webhook_receiver, workdir):
    """systemd's OnFailure= unit calls `notify`: a run killed before it could report is
    notified with the unit and where to look; a run that reported its own failure is not
    reported twice."""
    env = notify_env(cli_env, webhook_receiver)
    out = cli("notify", "--event", "failure", "--unit", "sandstone-backup-schema.service",
              "--json", env=env).json()
    assert out["notified"] is True and out["operation"] == "backup.schema"
    [slack] = webhook_receiver.on(SLACK_PATH)
    text = slack_text(slack.json())
    assert "sandstone-backup-schema.service" in text and "journalctl -u" in text
    assert audit_records(workdir)[-1]["outcome"] == "failure"

    failed = cli("data", "app.no_such_table", env=env, check=False)  # reports itself
    assert failed.code != 0
    before = len(webhook_receiver.on(SLACK_PATH))
    again = cli("notify", "--unit", "sandstone-backup-data.service", "--json", env=env).json()
    assert again["notified"] is False and "reported its own failure" in again["reason"]
    assert len(webhook_receiver.on(SLACK_PATH)) == before
