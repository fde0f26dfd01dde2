"""Run a playbook against localhost with this checkout installed as the collection
sandstone.backup, and return each task's result (ansible's json callback)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parents[2]


def collection_path(base: Path) -> Path:
    target = base / "ansible_collections" / "sandstone"
    target.mkdir(parents=True, exist_ok=True)
    link = target / "backup"
    if not link.exists():
        link.symlink_to(ROOT)
    return base


def run_playbook(base: Path, playbook_text: str, extra_env: Dict[str, str] = None,
                 check: bool = False, extra_args: List[str] = ()) -> dict:
    playbook = base / "playbook.yml"
    playbook.write_text(playbook_text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "PG"))}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(collection_path(base)), ANSIBLE_STDOUT_CALLBACK="results_json",
               ANSIBLE_CALLBACK_PLUGINS=str(ROOT / "tests" / "support" / "callback_plugins"),
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_NOCOLOR="1",
               ANSIBLE_HOME=str(base / ".ansible"))
    env.update(extra_env or {})
    bindir = os.path.dirname(sys.executable)
    cmd = [os.path.join(bindir, "ansible-playbook"), "-i", "localhost,", "-c", "local",
           str(playbook), *extra_args]
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"ansible-playbook printed no JSON (exit {proc.returncode}):\n"
                             f"{proc.stdout}\n{proc.stderr}")
    data["_rc"] = proc.returncode
    data["_raw"] = proc.stdout
    return data


def task_results(data: dict) -> Dict[str, dict]:
    """task name -> the localhost result."""
    out = {}
    for play in data["plays"]:
        for task in play["tasks"]:
            out[task["task"]["name"]] = task["hosts"]["localhost"]
    return out
