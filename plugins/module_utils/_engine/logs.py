"""Logging for the CLI: a log file under LOG_DIR (outside the repository) and, with -v or on
a terminal, progress on stderr. A log directory that cannot be written never stops a backup."""
from __future__ import annotations

import logging
import os
import sys

from . import config
from .errors import SandstoneError

FORMAT = "%(asctime)s %(levelname)s %(message)s"


def setup_logging(args, ctx) -> None:
    logger = logging.getLogger("sandstone")
    logger.setLevel(logging.DEBUG)
    logger.handlers.clear()
    logger.propagate = False
    stderr = logging.StreamHandler(sys.stderr)
    verbose = getattr(args, "verbose", False)
    stderr.setLevel(logging.INFO if verbose else logging.WARNING)
    stderr.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(stderr)
    try:
        log_dir = config.load({}, ctx.config_file).get("LOG_DIR")
    except SandstoneError:
        return  # the command itself reports the configuration error
    if not log_dir:
        return
    try:
        os.makedirs(log_dir, mode=0o700, exist_ok=True)
        handler = logging.FileHandler(os.path.join(log_dir, "sandstone-backup.log"))
    except OSError as exc:
        logger.warning("cannot write logs to %s (%s); logging to stderr only", log_dir, exc.strerror)
        return
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)
