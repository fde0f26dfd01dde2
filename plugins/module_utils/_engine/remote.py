"""The S3 copy of the repository, built from the settings only when UPLOAD_S3 is on, so
boto3 is imported only by those who use it."""
from __future__ import annotations

import importlib.util
import logging
from typing import Optional

from .config import Settings
from .errors import ConfigError
from .repository import Repository

log = logging.getLogger("sandstone")


def s3_enabled(settings: Settings) -> bool:
    return bool(settings.get("UPLOAD_S3"))


def check_s3_settings(settings: Settings) -> None:
    """Fail on a half-made S3 configuration before anything is dumped."""
    if not s3_configured(settings):
        return
    if not settings.get("S3_BUCKET"):
        raise ConfigError("UPLOAD_S3 is on but S3_BUCKET is empty",
                          "set S3_BUCKET (or turn UPLOAD_S3 off)")
    if (settings.get("S3_PART_SIZE_MB") or 0) < 5:
        raise ConfigError(f"S3_PART_SIZE_MB={settings.get('S3_PART_SIZE_MB')} is below S3's "
                          "minimum part size", "use 5 or more")


def s3_configured(settings: Settings) -> bool:
    """A bucket is named: its backups are found by list, restore and verify even on runs
    that do not upload (UPLOAD_S3 off), so a lost local folder is never a lost backup."""
    return s3_enabled(settings) or bool(settings.get("S3_BUCKET"))


def s3_repository(settings: Settings, reading: bool = False) -> Optional[Repository]:
    """The S3 repository: for uploads when UPLOAD_S3 is on, for ``reading`` also whenever
    S3_BUCKET is set; else None."""
    if not (s3_configured(settings) if reading else s3_enabled(settings)):
        return None
    check_s3_settings(settings)
    from .storage.s3 import MIB, S3Options, S3Storage
    if reading and not s3_enabled(settings):
        if importlib.util.find_spec("boto3") is None:
            log.warning("S3_BUCKET is set but boto3 is not installed: backups in the bucket "
                        "are not searched (pip install 'sandstone-backup[s3]')")
            return None
    options = S3Options(bucket=settings["S3_BUCKET"], prefix=settings.get("S3_PREFIX", ""),
                        region=settings.get("AWS_REGION"),
                        endpoint_url=settings.get("S3_ENDPOINT_URL"),
                        force_path_style=bool(settings.get("S3_FORCE_PATH_STYLE")),
                        part_size=settings["S3_PART_SIZE_MB"] * MIB,
                        max_attempts=max(1, settings.get("S3_MAX_ATTEMPTS", 5)))
    return Repository(S3Storage(options))
