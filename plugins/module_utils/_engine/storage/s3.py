"""An S3 (or S3-compatible: MinIO, Cloudflare R2, Supabase Storage) repository over boto3.

Same interface as the local driver. Objects appear under their key only when a writer
commits: small objects with one PutObject, larger ones with a multipart upload that is
completed on commit and aborted on abort, so a reader never sees half an object.
Memory stays bounded by one part (S3_PART_SIZE_MB), whatever the object's size.

Every upload is verified after it completes: the size with HeadObject, and a checksum
computed while streaming. Each part carries Content-MD5 and x-amz-checksum-sha256, so the
server rejects a part damaged in transit; after completion the object's SHA-256 checksum
(full-object or composite of the parts) is compared when the server keeps one, else the
ETag when it is an MD5 (single PUT) or the MD5 of the parts' MD5s (multipart).

boto3 is imported only when S3 is configured. Credentials come from the standard AWS
chain (environment, shared files, instance roles), never from our configuration."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any, BinaryIO, Dict, List, Optional

from ..errors import ConfigError, IntegrityError, NotFound, OperationFailed
from .base import Storage, Writer

log = logging.getLogger("sandstone")

MIB = 1024 * 1024
MIN_PART = 5 * MIB  # S3's smallest part (except the last)
MAX_PARTS = 10000
MD5_ETAG = re.compile(r'^"?([0-9a-f]{32})(?:-(\d+))?"?$')


@dataclass
class S3Options:
    bucket: str
    prefix: str = ""
    region: Optional[str] = None
    endpoint_url: Optional[str] = None
    force_path_style: bool = False
    part_size: int = 16 * MIB
    max_attempts: int = 5
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    page_size: int = 1000  # keys per ListObjectsV2 page (S3's maximum)


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


class S3Writer(Writer):
    """Buffers up to one part; the first full part starts a multipart upload."""

    def __init__(self, storage: "S3Storage", key: str) -> None:
        self.storage = storage
        self.key = key
        self.object = storage.object_key(key)
        self.buffer = bytearray()
        self.upload_id: Optional[str] = None
        self.parts: List[Dict[str, Any]] = []
        self.part_md5s: List[bytes] = []
        self.part_sha256s: List[bytes] = []
        self.whole_sha256 = hashlib.sha256()
        self.size = 0
        self.done = False
        self.verified_by = ""

    def write(self, data: bytes) -> None:
        self.buffer += data
        self.size += len(data)
        self.whole_sha256.update(data)
        part_size = self.storage.options.part_size
        while len(self.buffer) >= part_size:
            # Hand the full buffer over without copying it; only the overflow is copied.
            part, self.buffer = self.buffer, bytearray(self.buffer[part_size:])
            del part[part_size:]
            self._upload_part(part)

    def _upload_part(self, data: bytearray) -> None:
        s3 = self.storage
        if self.upload_id is None:
            answer = s3.call("start the upload of", self.key, s3.client.create_multipart_upload,
                             Bucket=s3.options.bucket, Key=self.object,
                             ChecksumAlgorithm="SHA256")
            self.upload_id = answer["UploadId"]
        number = len(self.parts) + 1
        if number > MAX_PARTS:
            raise OperationFailed(f"{s3.location(self.key)} needs more than {MAX_PARTS} parts",
                                  "raise S3_PART_SIZE_MB")
        md5, sha = hashlib.md5(data).digest(), hashlib.sha256(data).digest()
        answer = s3.call("upload a part of", self.key, s3.client.upload_part,
                         Bucket=s3.options.bucket, Key=self.object, UploadId=self.upload_id,
                         PartNumber=number, Body=data, ContentMD5=_b64(md5),
                         ChecksumSHA256=_b64(sha))
        self.parts.append({"PartNumber": number, "ETag": answer["ETag"],
                           "ChecksumSHA256": _b64(sha)})
        self.part_md5s.append(md5)
        self.part_sha256s.append(sha)

    def commit(self) -> None:
        s3 = self.storage
        if self.upload_id is None:
            data = bytes(self.buffer)
            s3.call("upload", self.key, s3.client.put_object, Bucket=s3.options.bucket,
                    Key=self.object, Body=data, ContentMD5=_b64(hashlib.md5(data).digest()),
                    ChecksumSHA256=_b64(self.whole_sha256.digest()))
            expected_md5, expected_sha = hashlib.md5(data).hexdigest(), _b64(self.whole_sha256.digest())
        else:
            if self.buffer:
                self._upload_part(bytes(self.buffer))
            s3.call("complete the upload of", self.key, s3.client.complete_multipart_upload,
                    Bucket=s3.options.bucket, Key=self.object, UploadId=self.upload_id,
                    MultipartUpload={"Parts": self.parts})
            expected_md5 = f"{hashlib.md5(b''.join(self.part_md5s)).hexdigest()}-{len(self.parts)}"
            expected_sha = _b64(hashlib.sha256(b"".join(self.part_sha256s)).digest())
        self.buffer = bytearray()
        self.done = True
        self.verified_by = self._verify(expected_md5, expected_sha)

    def _verify(self, expected_md5: str, expected_sha: str) -> str:
        """Check what the server stored against what we sent; remove it when it differs."""
        s3 = self.storage
        head = s3.call("check", self.key, s3.client.head_object, Bucket=s3.options.bucket,
                       Key=self.object, ChecksumMode="ENABLED")
        problem = None
        if head["ContentLength"] != self.size:
            problem = f"{head['ContentLength']} bytes stored, {self.size} sent"
        stored_sha = (head.get("ChecksumSHA256") or "").split("-")[0]
        etag = MD5_ETAG.match(head.get("ETag", ""))
        if problem is None and stored_sha:
            whole = _b64(self.whole_sha256.digest())
            if stored_sha not in (expected_sha, whole):
                problem = "its SHA-256 checksum differs from the bytes sent"
            how = "size and SHA-256"
        elif problem is None and etag:
            stored = etag.group(1) + (f"-{etag.group(2)}" if etag.group(2) else "")
            if stored != expected_md5:
                problem = "its ETag (MD5) differs from the bytes sent"
            how = "size and MD5 ETag"
        else:
            how = "size"
        if problem:
            s3.delete(self.key)
            raise IntegrityError(f"upload of {s3.location(self.key)} was not stored intact "
                                 f"({problem}); the object was removed",
                                 "check the S3 endpoint or proxy; run the backup again")
        return how

    def abort(self) -> None:
        if self.done:
            return
        self.done = True
        self.buffer = bytearray()
        if self.upload_id is not None:
            try:
                self.storage.client.abort_multipart_upload(
                    Bucket=self.storage.options.bucket, Key=self.object, UploadId=self.upload_id)
            except Exception as exc:  # the next run's leftover cleanup aborts it
                log.warning("could not abort the multipart upload of %s (%s); the next run "
                            "removes it", self.storage.location(self.key), exc)


class _Body:
    """A file-like view of a GetObject body whose network errors become our errors."""

    def __init__(self, storage: "S3Storage", key: str, body) -> None:
        self.storage, self.key, self.body = storage, key, body

    def read(self, size: int = -1) -> bytes:
        try:
            return self.body.read(None if size is None or size < 0 else size)
        except Exception as exc:
            raise self.storage.failure("read", self.key, exc) from None

    def close(self) -> None:
        self.body.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class S3Storage(Storage):
    name = "s3"

    def __init__(self, options: S3Options, client=None) -> None:
        if not options.bucket:
            raise ConfigError("UPLOAD_S3 is on but S3_BUCKET is empty",
                              "set S3_BUCKET to the bucket that keeps the copies")
        if options.part_size < MIN_PART:
            raise ConfigError(f"S3_PART_SIZE_MB={options.part_size // MIB} is below S3's "
                              "minimum part size", "use 5 or more")
        self.options = options
        self.prefix = options.prefix.strip("/")
        self.client = client or _client(options)
        self._modified: Dict[str, dt.datetime] = {}
        self._etags: Dict[str, str] = {}

    # keys ---------------------------------------------------------------------------
    def object_key(self, key: str) -> str:
        key = key.strip("/")
        if ".." in key.split("/"):
            raise ConfigError(f"path {key!r} leaves the repository", "use a backup id")
        return f"{self.prefix}/{key}" if self.prefix else key

    def _relative(self, object_key: str) -> str:
        return object_key[len(self.prefix) + 1:] if self.prefix else object_key

    def location(self, key: str = "") -> str:
        path = self.object_key(key) if key else self.prefix
        return f"s3://{self.options.bucket}/{path}".rstrip("/")

    # errors -------------------------------------------------------------------------
    def failure(self, action: str, key: str, exc: Exception) -> Exception:
        """One line that says what failed, where, and what to check."""
        from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError
        where = self.location(key)
        if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
            return ConfigError(f"cannot {action} {where}: no AWS credentials found",
                               "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
                               "or give the host an instance role")
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = error.get("Code", "?")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("NoSuchKey", "404") and action in ("read", "check"):
                return NotFound(f"{where} does not exist", "check the backup id")
            if code == "NoSuchBucket":
                return ConfigError(f"bucket {self.options.bucket!r} does not exist",
                                   "check S3_BUCKET, AWS_REGION and S3_ENDPOINT_URL")
            if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"):
                return ConfigError(f"cannot {action} {where}: access denied ({code})",
                                   "check the AWS credentials and the bucket policy")
            if code in ("PreconditionFailed", "412"):
                return IntegrityError(f"{where} changed while it was being read",
                                      "something else writes to this backup; read it again")
            return OperationFailed(f"cannot {action} {where}: S3 answered {status} {code} "
                                   f"after {self.options.max_attempts} attempts",
                                   "check S3_ENDPOINT_URL, AWS_REGION, the bucket and "
                                   "the network")
        return OperationFailed(f"cannot {action} {where}: {type(exc).__name__}: {exc}",
                               "check S3_ENDPOINT_URL, AWS_REGION and the network")

    def call(self, action: str, key: str, method, **kwargs):
        """One S3 call with botocore's bounded, jittered retries; any error becomes ours."""
        try:
            return method(**kwargs)
        except Exception as exc:
            raise self.failure(action, key, exc) from None

    # the Storage interface ------------------------------------------------------------
    def writer(self, key: str) -> S3Writer:
        return S3Writer(self, key)

    def open(self, key: str) -> BinaryIO:
        kwargs = {"Bucket": self.options.bucket, "Key": self.object_key(key)}
        if key in self._etags:
            # A second read (restore after verify) must see the very object that was verified.
            kwargs["IfMatch"] = self._etags[key]
        answer = self.call("read", key, self.client.get_object, **kwargs)
        self._etags.setdefault(key, answer.get("ETag", ""))
        return _Body(self, key, answer["Body"])  # type: ignore[return-value]

    def list(self, prefix: str) -> List[str]:
        keys = []
        base = self.object_key(prefix) if prefix else self.prefix
        if base:
            base += "/"
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.options.bucket, Prefix=base,
                                           PaginationConfig={"PageSize": self.options.page_size}):
                for item in page.get("Contents", []):
                    key = self._relative(item["Key"])
                    self._modified[key] = item["LastModified"]
                    keys.append(key)
        except Exception as exc:
            raise self.failure("list", prefix, exc) from None
        return sorted(keys)

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except NotFound:
            return False
        return True

    def size(self, key: str) -> int:
        answer = self.call("check", key, self.client.head_object, Bucket=self.options.bucket,
                           Key=self.object_key(key))
        self._modified[key] = answer["LastModified"]
        return answer["ContentLength"]

    def modified(self, key: str) -> float:
        """When the object was written (seconds since the epoch)."""
        if key not in self._modified:
            self.size(key)
        return self._modified[key].timestamp()

    def delete(self, key: str) -> None:
        self.call("delete", key, self.client.delete_object, Bucket=self.options.bucket,
                  Key=self.object_key(key))

    # multipart leftovers ------------------------------------------------------------------
    def unfinished_uploads(self, prefix: str = "") -> List[Dict[str, Any]]:
        """Multipart uploads never completed nor aborted: key, upload id, and the last sign
        of life (the newest part's time, else the start), so a long upload that is still
        sending parts never looks abandoned."""
        base = self.object_key(prefix) if prefix else self.prefix
        found = []
        paginator = self.client.get_paginator("list_multipart_uploads")
        try:
            for page in paginator.paginate(Bucket=self.options.bucket,
                                           Prefix=f"{base}/" if base else ""):
                for item in page.get("Uploads", []):
                    moments = [item["Initiated"]]
                    parts = self.client.get_paginator("list_parts").paginate(
                        Bucket=self.options.bucket, Key=item["Key"], UploadId=item["UploadId"])
                    for part_page in parts:
                        moments += [p["LastModified"] for p in part_page.get("Parts", [])]
                    found.append({"key": self._relative(item["Key"]), "upload_id": item["UploadId"],
                                  "active": max(m.timestamp() for m in moments)})
        except Exception as exc:
            raise self.failure("list the unfinished uploads in", prefix, exc) from None
        return found

    def abort_upload(self, key: str, upload_id: str) -> None:
        self.call("abort the upload of", key, self.client.abort_multipart_upload,
                  Bucket=self.options.bucket, Key=self.object_key(key), UploadId=upload_id)


def _client(options: S3Options):
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise ConfigError("UPLOAD_S3 is on but boto3 is not installed",
                          "install it: pip install 'sandstone-backup[s3]' (or python3-boto3)") from None
    config = Config(
        retries={"total_max_attempts": options.max_attempts, "mode": "standard"},
        connect_timeout=options.connect_timeout, read_timeout=options.read_timeout,
        s3={"addressing_style": "path" if options.force_path_style else "auto"},
        # We send our own checksums; S3-compatible stores often reject botocore's default CRC32.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client("s3", region_name=options.region or None,
                                          endpoint_url=options.endpoint_url or None, config=config)
