import os
import stat

import pytest

from sandstone_backup import config, pg
from sandstone_backup.errors import ConfigError


def settings(**env):
    return config.load({}, None, env)


def test_project_id_builds_the_supabase_url():
    spec = pg.build_spec(settings(SUPABASE_PROJECT_ID="abcdefghijklmnop", SUPABASE_DB_PASSWORD="pw:x"))
    assert spec.params == {"host": "db.abcdefghijklmnop.supabase.co", "port": "5432",
                           "user": "postgres", "dbname": "postgres", "sslmode": "require"}
    assert spec.password == "pw:x"
    assert "pw" not in spec.conninfo() and "pw" not in repr(spec)


def test_url_wins_and_its_password_is_kept_out_of_conninfo():
    spec = pg.build_spec(settings(SUPABASE_DB_URL="postgresql://app:s%40cret@db.example:6000/shop",
                                  SUPABASE_PROJECT_ID="abcdefghijklmnop"))
    assert spec.params["host"] == "db.example" and spec.params["dbname"] == "shop"
    assert spec.password == "s@cret" and "cret" not in spec.conninfo()
    assert "sslmode" not in spec.params  # not a Supabase host: libpq's default applies


def test_module_parameters_override_the_url():
    spec = pg.build_spec(settings(SUPABASE_DB_URL="postgresql://a:b@h1/d1"), host="h2", port=7,
                         dbname="d2", password="p2")
    assert (spec.params["host"], spec.params["port"], spec.params["dbname"], spec.password) == \
        ("h2", "7", "d2", "p2")


def test_project_id_without_password_is_a_config_error():
    with pytest.raises(ConfigError) as err:
        pg.build_spec(settings(SUPABASE_PROJECT_ID="abcdefghijklmnop"))
    assert "SUPABASE_DB_PASSWORD" in err.value.one_line()


def test_invalid_url():
    with pytest.raises(ConfigError):
        pg.build_spec(settings(SUPABASE_DB_URL="postgresql://[bad"))


def test_password_travels_in_a_0600_passfile_that_is_removed():
    spec = pg.ConnSpec(params={"host": "h"}, password="a:b\\c")
    with pg.libpq_env(spec) as env:
        path = env["PGPASSFILE"]
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert open(path).read() == "*:*:*:*:a\\:b\\\\c\n"
        assert "PGPASSWORD" not in env
    assert not os.path.exists(path)
