"""A trained adapter coming home from a provider: the archive unpacked, the URLs fetched - within limits.

Everything here is untrusted input: a provider (or whoever answers in its name) chooses the archive's entries,
their sizes and the URLs. So an archive is unpacked into a staging folder and moved into place only when every
entry is a plain file or folder inside it, the declared sizes add up to at most `settings.adapter_max_bytes()`
and the entries number at most `settings.adapter_max_files()` (both overridable: FTWIZARD_ADAPTER_MAX_BYTES /
_FILES); a URL must be https (or the provider endpoint the user configured, scheme and host as given), never
`file:`, `data:` or another scheme that would read this machine. Nothing is left half-written: a refused or
broken download leaves the run's adapter/ as it was.
"""

from __future__ import annotations

import shutil
import tarfile
import uuid
from pathlib import Path
from typing import IO, Iterator
from urllib.parse import urlsplit

from ftwizard.backends.hosted.providers import HostedError

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20


def limits() -> tuple[int, int]:
    from ftwizard import settings

    return settings.adapter_max_bytes(), settings.adapter_max_files()


def archive_format(archive: Path) -> str:
    """'zstd' or 'gzip' from the magic bytes (Together serves zstd today; gzip is what tar.gz tools write)."""
    with open(archive, "rb") as f:
        head = f.read(4)
    if head == ZSTD_MAGIC:
        return "zstd"
    if head[:2] == GZIP_MAGIC:
        return "gzip"
    raise HostedError(f"the adapter download is neither a zstd nor a gzip tar archive (it starts "
                      f"{head.hex(' ') or 'empty'}; expected 28 b5 2f fd or 1f 8b)", kind="api")


def _members(tar: tarfile.TarFile, max_bytes: int, max_files: int) -> Iterator[tarfile.TarInfo]:
    total = files = 0
    for member in tar:
        name = Path(member.name)
        if name.is_absolute() or ".." in name.parts or not (member.isfile() or member.isdir()):
            raise HostedError(f"the adapter archive holds an unsafe entry {member.name!r} (outside the folder, or a "
                              "link/device): nothing was extracted", kind="api")
        files += 1
        total += max(0, member.size)
        if files > max_files:
            raise HostedError(f"the adapter archive holds more than {max_files:,} entries (the limit; raise it with "
                              "FTWIZARD_ADAPTER_MAX_FILES): nothing was extracted", kind="api")
        if total > max_bytes:
            raise HostedError(f"the adapter archive unpacks to more than {max_bytes:,} bytes (the limit; raise it with "
                              "FTWIZARD_ADAPTER_MAX_BYTES): nothing was extracted", kind="api")
        yield member


def _open_stream(f: IO[bytes], fmt: str):
    if fmt == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(f)
    import gzip

    return gzip.GzipFile(fileobj=f, mode="rb")


def extract_adapter(archive: Path, dest: Path) -> list[str]:
    """Unpack a downloaded adapter (a zstd- or gzip-compressed tar) into `dest`, within the limits; the folder
    holding adapter_config.json becomes `dest`. Returns the files, relative to `dest`."""
    fmt = archive_format(archive)
    max_bytes, max_files = limits()
    staging = dest.parent / f".{dest.name}.download-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        with open(archive, "rb") as f, _open_stream(f, fmt) as reader:
            try:
                with tarfile.open(fileobj=reader, mode="r|") as tar:
                    for member in _members(tar, max_bytes, max_files):
                        tar.extract(member, staging, filter="data")
            except (tarfile.TarError, EOFError, OSError) as e:
                if isinstance(e, OSError) and not _is_decode_error(e):
                    raise
                raise HostedError(f"the adapter archive is damaged or cut short ({type(e).__name__}: {e}): nothing "
                                  "was extracted; fetch it again", kind="api") from None
        configs = sorted(staging.rglob("adapter_config.json"), key=lambda p: len(p.parts))
        if not configs:
            raise HostedError("the adapter archive has no adapter_config.json (not a PEFT adapter)", kind="api")
        root = configs[0].parent
        if dest.exists():
            shutil.rmtree(dest)
        root.rename(dest)
        return sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _is_decode_error(e: OSError) -> bool:
    """gzip's BadGzipFile and zstandard's ZstdError on a damaged stream (OSError subclasses), not a full disk."""
    return type(e).__name__ in ("BadGzipFile", "ZstdError") or "zstd" in type(e).__module__


# ---------------------------------------------------------------------------------------------
# URLs

def check_download_url(url: str, *, trusted_base: str | None = None) -> str:
    """`url` when it may be fetched: https, or the scheme and host of the provider endpoint the user configured
    (`trusted_base`, e.g. TINKER_BASE_URL); anything else (file:, data:, ftp:, plain http elsewhere) is refused."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "https" and parts.netloc:
        return url
    if trusted_base:
        base = urlsplit(trusted_base)
        if scheme == base.scheme.lower() and parts.netloc and parts.netloc.lower() == base.netloc.lower():
            return url
    shown = url if len(url) <= 80 else url[:77] + "..."
    raise HostedError(f"refusing to fetch the adapter from {shown!r}: only https URLs are accepted (or the "
                      "configured provider endpoint itself)", kind="api")


def fetch_url(url: str, dest: Path, *, max_bytes: int, timeout: float = 120.0) -> int:
    """GET `url` into `dest` (written whole or not at all), at most `max_bytes`; returns the byte count.
    Connection drops and cut-short bodies raise the stdlib's own errors, which the retry policy classifies."""
    import http.client
    import urllib.request

    part = dest.with_name(dest.name + ".partial")
    size = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r, open(part, "wb") as f:
            declared = r.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise HostedError(f"the adapter file {dest.name} is {int(declared):,} bytes, over the limit of "
                                  f"{max_bytes:,} (FTWIZARD_ADAPTER_MAX_BYTES)", kind="api")
            while chunk := r.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise HostedError(f"the adapter file {dest.name} is over the limit of {max_bytes:,} bytes "
                                      "(FTWIZARD_ADAPTER_MAX_BYTES)", kind="api")
                f.write(chunk)
            if declared and declared.isdigit() and size != int(declared):
                # http.client's read(n) ends quietly when the connection closes early: a half file, unless counted.
                raise http.client.IncompleteRead(b"", int(declared) - size)
        part.replace(dest)
    finally:
        part.unlink(missing_ok=True)
    return size
