"""backup.conf rendered from the schema (what the agent role writes): it round-trips through
the CLI's own parser, unknown keys and bad values are refused, a secret never shows."""
import pytest

from sandstone_backup import config, conffile
from sandstone_backup.errors import ConfigError


def test_rendered_file_parses_back_to_the_same_values():
    text = conffile.render({"SUPABASE_DB_URL": "postgresql://u:p a's$@h/db", "RETENTION_DAYS": 30,
                            "COMPRESS": True, "COMPRESSION": "zstd", "BACKUP_DIR": "/var/backups/x y"})
    assert config.parse_conf_text(text, "backup.conf") == {
        "SUPABASE_DB_URL": "postgresql://u:p a's$@h/db", "RETENTION_DAYS": "30", "COMPRESS": "true",
        "COMPRESSION": "zstd", "BACKUP_DIR": "/var/backups/x y"}
    assert f"# {config.SCHEMA['RETENTION_DAYS'].description}" in text


def test_unknown_key_is_refused_with_the_valid_keys():
    with pytest.raises(ConfigError) as err:
        conffile.render({"RETENTION_DAY": 3})
    assert "unknown backup.conf key(s): RETENTION_DAY" in str(err.value.one_line())
    assert "RETENTION_DAYS" in err.value.hint


def test_bad_value_of_a_secret_is_refused_without_showing_it(monkeypatch):
    secret = config.Key("TEST_SECRET_INT", "a secret number", "1", kind="int", secret=True)
    monkeypatch.setitem(config.SCHEMA, "TEST_SECRET_INT", secret)
    with pytest.raises(ConfigError) as err:
        conffile.render({"TEST_SECRET_INT": "hunter2"})
    assert "TEST_SECRET_INT" in err.value.one_line() and "hunter2" not in err.value.one_line()
    with pytest.raises(ConfigError) as err:
        conffile.render({"COMPRESSION": "lz4"})
    assert "lz4" in err.value.one_line()
