"""The backup manifest: versioned JSON written last; no manifest, no backup."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

from .errors import IntegrityError
from .pipeline import FileRecord

FORMAT = 1
NAME = "manifest.json"


@dataclass
class Manifest:
    id: str
    type: str  # full | schema | data
    database: str
    host: str = ""
    started_at: str = ""
    finished_at: str = ""
    duration_seconds: float = 0.0
    server_version: str = ""
    pg_dump_version: str = ""
    lsn: Optional[str] = None
    files: List[FileRecord] = field(default_factory=list)
    tables: List[Dict[str, Any]] = field(default_factory=list)
    options: Dict[str, Any] = field(default_factory=dict)
    encryption: Optional[Dict[str, Any]] = None
    verify: List[Dict[str, Any]] = field(default_factory=list)
    # Row-level security at backup time: pg_policies rows (None: not recorded by this version).
    policies: Optional[List[Dict[str, Any]]] = None
    # Backups this one needs to be restored ("type/id"), e.g. an incremental's base.
    # Retention keeps whatever a kept backup depends on.
    depends_on: List[str] = field(default_factory=list)
    tool_version: str = ""
    profile: str = "plain"  # plain | supabase (a folder of separate files, see supabase_backup)
    format: int = FORMAT

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> bytes:
        data = asdict(self)
        data["files"] = [f.to_dict() for f in self.files]
        return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes, where: str) -> "Manifest":
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IntegrityError(f"manifest {where} is not valid JSON ({exc})",
                                 "the backup is damaged; use another one") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise IntegrityError(f"manifest {where} has format {data.get('format')!r}, "
                                 f"this version reads format {FORMAT}",
                                 "upgrade sandstone-backup")
        try:
            data["files"] = [FileRecord.from_dict(f) for f in data.get("files", [])]
            known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
            return cls(**known)
        except (TypeError, KeyError) as exc:
            raise IntegrityError(f"manifest {where} is incomplete ({exc})",
                                 "the backup is damaged; use another one") from None

    def summary(self) -> Dict[str, Any]:
        """What people and playbooks need at a glance."""
        return {"id": self.id, "type": self.type, "database": self.database,
                "started_at": self.started_at, "finished_at": self.finished_at,
                "duration_seconds": self.duration_seconds, "size": self.size,
                "server_version": self.server_version, "tables": len(self.tables),
                "rows": sum(t.get("rows", 0) for t in self.tables),
                "compression": self.files[0].compression if self.files else None,
                "encryption_key_id": (self.encryption or {}).get("key_id")}
