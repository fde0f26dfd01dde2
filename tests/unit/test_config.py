import pytest

from sandstone_backup import config
from sandstone_backup.errors import ConfigError


def test_precedence_option_env_file_default(tmp_path):
    conf = tmp_path / "backup.conf"
    conf.write_text("# comment\nBACKUP_DIR='/from/file'\nRETENTION_DAYS=7\nexport COMPRESSION=zstd\n"
                    "LOG_DIR=\"/logs dir\"  # trailing comment\n")
    env = {"RETENTION_DAYS": "14"}
    s = config.load({"BACKUP_DIR": "/from/option"}, str(conf), env)
    assert s["BACKUP_DIR"] == "/from/option" and s.sources["BACKUP_DIR"] == "option"
    assert s["RETENTION_DAYS"] == 14 and s.sources["RETENTION_DAYS"] == "environment"
    assert s["COMPRESSION"] == "zstd" and s.sources["COMPRESSION"] == str(conf)
    assert s["LOG_DIR"] == "/logs dir"
    assert s["COMPRESS"] is True and s.sources["COMPRESS"] == "default"


def test_unknown_key_is_rejected_with_its_line(tmp_path):
    conf = tmp_path / "backup.conf"
    conf.write_text("BACKUP_DIR=/x\nRETENTON_DAYS=3\n")
    with pytest.raises(ConfigError) as err:
        config.load({}, str(conf), {})
    assert f"{conf}:2: unknown key RETENTON_DAYS" in err.value.one_line()


@pytest.mark.parametrize("key,value,message", [
    ("RETENTION_DAYS", "thirty", "not a whole number"),
    ("COMPRESS", "maybe", "not a boolean"),
    ("COMPRESSION", "lz4", "not one of gzip, zstd"),
])
def test_bad_values(key, value, message):
    with pytest.raises(ConfigError) as err:
        config.load({}, None, {key: value})
    assert message in err.value.message


def test_missing_config_file_says_how_to_make_one(tmp_path):
    with pytest.raises(ConfigError) as err:
        config.load({}, str(tmp_path / "nope.conf"), {})
    assert "config generate" in err.value.hint


def test_generated_sample_is_valid_and_complete(tmp_path):
    text = config.generate_sample()
    for name in config.SCHEMA:
        assert name in text
    conf = tmp_path / "backup.conf"
    conf.write_text(text)
    settings = config.load({}, str(conf), {})
    assert settings["RETENTION_DAYS"] == config.SCHEMA["RETENTION_DAYS"].default


def test_secrets_are_redacted():
    s = config.load({}, None, {"SUPABASE_DB_PASSWORD": "hunter2", "SUPABASE_PROJECT_ID": "abcdefghij"})
    red = s.redacted()
    assert red["SUPABASE_DB_PASSWORD"] == "********" and red["SUPABASE_PROJECT_ID"] == "abcdefghij"
