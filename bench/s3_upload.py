"""Upload throughput and memory of the S3 writer against moto on loopback.

    .venv/bin/python bench/s3_upload.py [--size-mib 512] [--part-mib 16]

Streams a generated object of --size-mib through S3Storage's writer in 1 MiB blocks (as
replication does) and prints MB/s and the process's peak RSS above its baseline, to show
that memory is bounded by the part size, not by the object's size. Starts its own
moto_server on a free loopback port and stops it afterwards."""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mib() -> float:
    """Current resident set size (Linux /proc)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--part-mib", type=int, default=16)
    args = parser.parse_args()

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    server = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _attempt in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        from sandstone_backup.storage.s3 import MIB, S3Options, S3Storage
        storage = S3Storage(S3Options(bucket="sandstone-bench", endpoint_url=f"http://127.0.0.1:{port}",
                                      region="us-east-1", force_path_style=True,
                                      part_size=args.part_mib * MIB))
        storage.client.create_bucket(Bucket="sandstone-bench")
        block = os.urandom(MIB)
        baseline = rss_mib()
        clock = time.monotonic()
        writer = storage.writer("bench/object.bin")
        for n in range(args.size_mib):
            # vary each block a little so no layer can cheat on repeated content
            writer.write(n.to_bytes(8, "big") + block[8:])
        writer.commit()
        seconds = time.monotonic() - clock
        size = storage.size("bench/object.bin")
        assert size == args.size_mib * MIB, size
        print(f"uploaded {args.size_mib} MiB in {len(writer.parts)} parts of {args.part_mib} MiB "
              f"in {seconds:.1f}s: {args.size_mib * MIB / seconds / 1e6:.1f} MB/s "
              f"(verified by {writer.verified_by})")
        print(f"RSS baseline {baseline:.0f} MiB, peak {peak_mib():.0f} MiB: "
              f"+{peak_mib() - baseline:.0f} MiB for a {args.size_mib} MiB object "
              f"({(peak_mib() - baseline) / args.part_mib:.1f} x the part size)")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
