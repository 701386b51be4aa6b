"""The record of a render, and the console script that reads it first: a run with nothing changed
says so without rendering.

Measured reason (benchmarks/noop_bench.py): a pre-commit hook runs `render --write --exit-code` or
`check` on every commit, most of which change no spec. Rendering 20 clusters takes seconds, and even
importing click, pydantic and cryptography takes several times `python -c pass`; the target is a
no-op run within 2x `python -c pass`. So this module imports only the standard library's light parts
(os, stat, and the C halves of json and SHA-256; validity.py for certificate warnings), and `main`
(the console script) answers from the record when it can prove the output current, else runs the
command line (pgrender.direct, or click through cli.py).

Measured reason for not importing json and hashlib here (a plain install, `-X importtime`, 20 specs):
json's Python layer imports re, and re imports enum: 5 to 7 ms of a 25 ms budget. hashlib loads
OpenSSL: 3.7 ms. So the record is read with json's own C scanner (_json.make_scanner, which json.loads
uses), the digests are written by _dumps (json.dumps's bytes for the few shapes they hold, strings
quoted by _json.encode_basestring_ascii), and SHA-256 is CPython's built-in one until something
(the full path) has loaded hashlib, which is six times faster on large output. The digests are the
same either way; tests/test_record.py holds _dumps and _loads to json's.

The record, RECORD in the output directory, is written by `render -o DIR`/`--write` as one more file
of the same all-or-nothing write (write.py), so output and record are always of the same run. Its
first line is SCHEMA and the SHA-256 of the rest (a record edited, truncated or garbled is never
read); the rest is JSON: a digest of everything that can change the output (``inputs``: pgrender's
version, the config's path and bytes, the spec files in order with their bytes, the output path,
the secrets provider, the default namespace, the sealing certificate's bytes, and a fingerprint of
the root key and, for the test key, of PGRENDER_ALLOW_TEST_KEY: a domain-separated hash, never the
key), a digest of what `validate` reads (``specs``), pgrender.yaml's settings that the command line
resolves options against, every output file's SHA-256 and mode, and ``reuse``: each cluster's spec
digest with the directory of its files, and a digest of the inputs but the specs, from which a
render after a spec changed takes the clusters whose document did not (reuse.py). The record names
each input as the render read it, not as the file is by the time the record is made: pgrender.yaml's
digest is of the bytes it was loaded from, the key's fingerprint of the key the render uses (loaded
once, before), each spec's digest of the bytes the render parsed (load.iter_documents notes it). So
an input that changes during a render, even one changed back, leaves a record the next run does not
match. The sealing certificate's digest is of the bytes the provider seals for (read once, beside
the key).

The record is content-addressed and the same on every machine (it is committed with output that is
committed): it says "these inputs make these files", which stays true wherever it is copied; a
record from another directory or config has other inputs, or names files that are not there. It
guards against accidents, not against someone who edits both output and record (who could as well
commit edited output without pgrender).

What differs between machines is in a cache outside the repository ($XDG_CACHE_HOME/pgrender, one
file per output directory), bound to the record's digest: the fingerprint of the code that rendered
or checked the output (pgrender's files: an editable install changes code without a new version;
Python's version; the libraries that shape the output), and each output file's inode, size, mtime and
ctime. Reading every output file would cost more than the target (500 files, 1.5 MB: 10-30 ms), so
only a file whose stat differs is hashed, and only a digest that differs sends the run to the full
path. A signature taken within the tick that stamped the file's mtime or ctime proves nothing (the
file could change again within that tick, keeping its signature), so that file is hashed too, as
git re-reads a "racily clean" file (_settled). A render waits out the tick of what it wrote (a few
milliseconds), then takes each file's signature and hashes the file (remember_written): the next
run reads nothing, and a file another process changed after the write is not vouched for.
Without a cache of this code (a fresh clone, an upgrade) the full path runs and writes one.

The command line is read as click reads it (pgrender.direct.parse, from the table generated from
cli.py). Only these forms are answered here (anything else, and every doubt, goes to the full
path): `render` with exactly one of `-o DIR` and `--write`, and `check`, with `--exit-code`
(render), `--allow-secrets-in-git` (render), `--key-file`, `--secrets-provider`,
`--sealing-certificate`, `--namespace`, `--config`, `--format text` and spec files; `validate` with
`--namespace`, `--config`, `--format text` and spec files (ANSWERED). They print what the full
path prints: the plans' warnings (kept in the record), the certificate warnings (their dates kept in
the record, compared with the clock now), and the summary line. Derived (plaintext) Secrets still
meet the git check (gitcheck.py) before a render says it wrote them.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import time

try:  # CPython's built-in SHA-256, without OpenSSL
    from _sha2 import sha256 as _builtin_sha256  # type: ignore[import-not-found]  # Python 3.12 and later
except ImportError:
    try:
        from _sha256 import sha256 as _builtin_sha256  # type: ignore[import-not-found,unused-ignore]  # 3.11
    except ImportError:  # a Python built with OpenSSL's hashes only (as Fedora builds it)
        from hashlib import sha256 as _builtin_sha256
from _json import encode_basestring_ascii as _quote
from _json import make_scanner as _make_scanner

from pgrender import __version__

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (2.6 ms); mypy reads the name the same
if TYPE_CHECKING:
    from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
    from typing import Any

    from pgrender.validity import Window

RECORD = ".pgrender-record"
SCHEMA = "pgrender-record/1"
DIR_MODE = 0o700  # write.DIR_MODE, restated: importing write.py would import the renderer
RECORD_MODE = 0o644  # write.file_mode(RECORD), restated likewise
KEY_VAR, ALLOW_TEST_KEY_VAR = "PGRENDER_KEY", "PGRENDER_ALLOW_TEST_KEY"  # secrets/keys.py's
MAX_KEY_FILE_BYTES = 4096  # secrets/keys.py's bound
# secrets/keys.py's: the keys keys.load refuses without PGRENDER_ALLOW_TEST_KEY=1 (_weak_key).
TEST_KEY_SHA256, KEY_BYTES = "36ef3c7e341ccc018e96778bd36aef20375f720228df91f137a1226b0fd7993e", 32
QUIET_SECONDS = 60 * 86400  # validity.EXPIRY_WARNING_DAYS: a certificate valid longer than that is not warned about
# Libraries whose version can change rendered bytes: validation, certificates and their encoding.
LIBRARIES = ("pydantic-", "pydantic_core-", "cryptography-", "ruamel.yaml-")
# What a command line may set here (pgrender.commands' parameters); any other away from its default
# (--stdout, --only-secrets, --previous, a --format for machines) is the full path's.
ANSWERED = {
    "render": {"specs", "output", "write_config", "exit_code", "allow_secrets_in_git", "key_file", "secrets_provider",
               "sealing_certificate", "namespace", "config_path"},
    "check": {"specs", "output", "key_file", "secrets_provider", "sealing_certificate", "namespace", "config_path"},
    "validate": {"specs", "namespace", "config_path"},
}  # fmt: skip


class Unanswered(Exception):
    """The fast path cannot prove the answer: the full command line runs."""


# What sends a run to the full path: Unanswered, and whatever a record that is not what was written
# (its checksum recomputed over another body) or a file system in the way can raise.
DOUBTS = (Unanswered, OSError, KeyError, TypeError, ValueError, IndexError, AttributeError)


# The inputs ---------------------------------------------------------------------------------------------------


def _sha256(data: bytes | memoryview[int] = b"") -> Any:
    """A SHA-256 hash object: OpenSSL's once hashlib is loaded (the full path's large outputs), else
    the built-in one (the no-op path, which hashes a few specs and the record)."""
    hashlib = sys.modules.get("hashlib")
    return (hashlib.sha256 if hashlib is not None else _builtin_sha256)(data)


def _sha(data: bytes | memoryview[int]) -> str:
    return str(_sha256(data).hexdigest())


class _Decoding:
    """What _json's scanner reads from a json.JSONDecoder: json.loads's defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float  # NaN, Infinity and -Infinity, as json's


_scanner = _make_scanner(_Decoding())  # type: ignore[arg-type]  # typeshed asks for a scanner; _json reads these attributes


def _scan(text: str, i: int) -> tuple[Any, int]:
    """The JSON value at ``i`` and the index past it, as json's scanner reads it: StopIteration for
    no value there, ValueError for text that is not JSON. (json's C scanner reports the second with
    json.decoder's JSONDecodeError, which CPython 3.11 looks up in sys.modules only: without json
    imported, as here, it raises SystemError instead.)"""
    try:
        return _scanner(text, i)
    except (SystemError, RecursionError):  # RecursionError: nested deeper than the interpreter allows
        raise ValueError(f"not JSON at {i}") from None


_WHITESPACE = " \t\n\r"


def _loads(data: bytes) -> Any:
    """json.loads(data); ValueError where it raises one."""
    text = data.decode("utf-8")
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration:
        raise ValueError("not JSON: no value") from None
    if text[end:].strip(_WHITESPACE):
        raise ValueError("not JSON: more after the value")
    return value


def _dumps(value: object) -> str:
    """json.dumps(value) for what the digests and the stat cache hold: strings, integers, booleans,
    None, and lists and dicts (string keys) of them."""
    if isinstance(value, str):
        return _quote(value)
    if value is None or value is True or value is False:
        return "null" if value is None else "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, list):
        return f"[{', '.join(map(_dumps, value))}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_quote(k)}: {_dumps(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"_dumps: {type(value).__name__} is not one of the types the record's digests hold")


def _read(path: str) -> bytes:
    """A regular file's bytes; Unanswered for anything else (a FIFO would be consumed, a device never end)."""
    fd = _open_regular(path)
    try:
        return read_open(fd)
    finally:
        os.close(fd)


def read_open(fd: int) -> bytes:
    """The bytes of the open file ``fd`` from where it is to its end: a read of its size (more
    while there is more), without a file object. For a file of a few kilobytes (a fleet's output
    has tens of thousands), a file object costs as much again as the read: 12 to 15 us a file
    against 6.5 (20,000 files of a fleet's output, read whole)."""
    size = os.fstat(fd).st_size
    data = os.read(fd, size + 1)
    if len(data) == size:  # the whole file, as it stat'ed: no more to read
        return data
    pieces = [data]  # it grew or shrank meanwhile, or the read ended short: read on to its end
    while piece := os.read(fd, CHUNK):
        pieces.append(piece)
    return b"".join(pieces)


def open_regular(path: str, follow: bool = True) -> int | None:
    """A descriptor of ``path`` opened for reading when it is a regular file (or, ``follow``, a link
    to one); None when it is something else: a link (not ``follow``), a FIFO (opened without waiting
    for a writer, never read), a device, a directory. OSError when it cannot be opened at all."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if not follow and exc.errno == errno.ELOOP:  # the last part of the path is a link
            return None
        raise
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except BaseException:
        os.close(fd)
        raise
    if not regular:
        os.close(fd)
        return None
    return fd


def _open_regular(path: str, follow: bool = True) -> int:
    """open_regular, or Unanswered."""
    try:
        fd = open_regular(path, follow)
    except OSError:
        raise Unanswered(f"{path}: cannot read") from None
    if fd is None:
        raise Unanswered(f"{path}: not a regular file")
    return fd


def code_fingerprint() -> str:
    """pgrender's version and code, Python's version and the versions of LIBRARIES.

    An installed pgrender is named by its RECORD (every file's hash, the same on every machine); an
    editable one, whose code changes without a new version, by each file's path, size and mtime.
    """
    package = os.path.dirname(os.path.abspath(__file__))
    digest = _sha256(f"{__version__}\0{sys.version}\0".encode())
    parent = os.path.dirname(package)
    installed = [n for n in _listdir(parent) if n.startswith("pgrender-") and n.endswith(".dist-info")]
    manifest = _installed_record(os.path.join(parent, installed[0], "RECORD")) if len(installed) == 1 else None
    digest.update(manifest if manifest is not None else _tree(package))
    for entry in sys.path:
        libraries = sorted(n for n in _listdir(entry or ".") if n.endswith(".dist-info") and n.startswith(LIBRARIES))
        digest.update("\0".join(libraries).encode() + b"\n")
    return str(digest.hexdigest())


def _tree(package: str) -> bytes:
    """Each file's path, size and mtime below ``package`` but bytecode (scandir: os.walk and stat
    cost twice as much for pgrender's 150 files)."""
    lines = []
    pending = [package]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        pending.append(entry.path)
                    continue
                st = entry.stat()
                lines.append(f"{entry.path[len(package) + 1 :]}\0{st.st_size}\0{st.st_mtime_ns}")
    return "\n".join(sorted(lines)).encode()


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _installed_record(path: str) -> bytes | None:
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError:
        return None
    return data if b"pgrender/__init__.py," in data else None


def key_fingerprint(key_file: str | None, environ: Mapping[str, str], used: bytes | None = None) -> str:
    """A domain-separated hash of the root key as keys.load reads it (the key file's, else
    PGRENDER_KEY's, as keys.parse normalises it) and, for a weak key (_weak), of
    PGRENDER_ALLOW_TEST_KEY=1. Never the key; a key of 256 random bits cannot be found from it. The
    same key from a file or the environment, on any machine, gives the same fingerprint, so a
    committed record does not change with who renders.

    Unanswered when keys.load would refuse or warn, which only the full path does: a key file that is
    not a regular file (a pipe is read once), too large, or readable by others; two different keys.
    ``used``: the key a render loaded (keys.load), fingerprinted instead of what the file holds now,
    so that the record names the key the output was made with even if the file changed meanwhile."""
    from_env = environ.get(KEY_VAR, "").strip().lower() or None
    if environ.get(KEY_VAR) and from_env is None:
        raise Unanswered(f"{KEY_VAR} is blank: keys.load refuses")
    key = from_env
    if key_file:
        try:
            st = os.stat(key_file)
        except OSError:
            raise Unanswered(f"{key_file}: cannot read") from None
        readable = stat.S_IROTH if st.st_uid == 0 else stat.S_IRGRP | stat.S_IROTH  # keys.load's rule
        if st.st_mode & readable:
            raise Unanswered(f"{key_file}: readable by others: keys.load warns")
        data = _read(key_file)
        if len(data) > MAX_KEY_FILE_BYTES:
            raise Unanswered(f"{key_file}: too large")
        key = data.decode("utf-8", "replace").strip().lower()
        if from_env and from_env != key:
            raise Unanswered(f"{key_file} and {KEY_VAR} differ: keys.load refuses")
    if used is not None:
        key = used.hex()  # as keys.parse read it: the normalised text above, for the same key
    # The flag changes what is rendered for a weak key only (keys.load refuses it without): for
    # another key it is not recorded, or a shell that sets it would change the committed record.
    allowed = environ.get(ALLOW_TEST_KEY_VAR) == "1" and _weak(key)
    return _sha(b"pgrender record: root key\0" + _dumps([key, allowed]).encode())


def _weak(key: str | None) -> bool:
    """Whether ``key`` (hexadecimal, as keys.parse reads it) is the test key or the all-zero key."""
    try:
        data = bytes.fromhex(key or "")
    except ValueError:
        return False
    return _sha(data) == TEST_KEY_SHA256 or data == bytes(KEY_BYTES)


def spec_digests(spec_files: Sequence[str], read: Mapping[str, str] | None = None) -> list[list[str]]:
    """Each spec file's name and SHA-256: as the render read it (``read``: load.iter_documents's),
    else as the file is now. Unanswered for standard input."""
    if "-" in spec_files:
        raise Unanswered("standard input")
    return [[name, read[name] if read is not None else _sha(_read(name))] for name in spec_files]


class Inputs:
    """What a render reads but the specs, digested: taken before it renders (its shared digest finds
    the clusters to reuse), joined with the specs' digests (spec_digests) once they are read."""

    __slots__ = ("_config", "_key", "_namespace", "_provider", "_sealing", "_target", "_trusted")

    def __init__(
        self,
        config: list[str] | None,
        namespace: str | None,
        target: str,
        provider: str,
        key: str | None,
        sealing: str | None,
        trusted: str | None = None,
    ) -> None:
        self._config, self._namespace, self._target = config, namespace, target
        self._provider, self._key, self._sealing = provider, key, sealing
        self._trusted = trusted  # PGRENDER_TRUSTED_SOURCES, as a set: what validation lets through

    @classmethod
    def of(
        cls,
        *,
        config_path: str | None,
        target: str,
        provider: str,
        namespace: str | None,
        key_file: str | None,
        certificate: str | None,
        needs_root_key: bool,
        environ: Mapping[str, str],
        config_digest: str | None = None,
        root_key: bytes | None = None,
        sealing_pem: bytes | None = None,
    ) -> Inputs:
        """``config_digest``: the SHA-256 of the bytes a render read its config from
        (config.LoadedConfig.digest), which the record must name rather than the file as it is by
        then; else the file is read. ``root_key``: the key the render uses, likewise (key_fingerprint);
        ``sealing_pem``: the certificate's bytes the provider seals for (sealed.read_certificate)."""
        config = [config_path, config_digest or _sha(_read(config_path))] if config_path else None
        key = key_fingerprint(key_file, environ, root_key) if needs_root_key else None
        # The file the provider reads: it expands ``~`` (a `--sealing-certificate=~/x` the shell left as is).
        read = os.path.expanduser(certificate) if certificate else None
        if sealing_pem is not None:
            sealing: str | None = _sha(sealing_pem)
        else:
            sealing = _sha(_read(read)) if read and os.path.exists(read) else certificate
        from pgrender.trusted_sources import trusted

        return cls(config, namespace, target, provider, key, sealing, " ".join(sorted(trusted(environ))) or None)

    def shared(self) -> str:
        """The digest of everything but the specs (the record's ``reuse.inputs``)."""
        shared = ["reuse", SCHEMA, __version__, self._config, self._namespace, self._trusted, *self._rendering()]
        return _sha(_dumps(shared).encode())

    def digests(self, specs: list[list[str]]) -> tuple[str, str, str]:
        """(inputs, specs, shared): the digest of everything a render reads, of what validate reads,
        and of what a render reads but the specs (the record's ``reuse``: reuse.py)."""
        validated = [SCHEMA, __version__, self._config, specs, self._namespace, self._trusted]
        rendered = [*validated, *self._rendering()]
        return _sha(_dumps(rendered).encode()), _sha(_dumps(validated).encode()), self.shared()

    def _rendering(self) -> list[str | None]:
        return [self._target, self._provider, self._key, self._sealing]


# The record ---------------------------------------------------------------------------------------------------


def make(
    *,
    inputs: tuple[str, str, str],
    config: dict[str, Any] | None,
    provider: dict[str, bool],
    clusters: int,
    warnings: str,
    windows: Callable[[], Iterable[Window]],
    directories: Callable[[], Iterable[tuple[str, str]]],
    files: Mapping[str, str],
    mode: Callable[[str], int],
) -> Iterator[str]:
    """The record's text, in pieces: SCHEMA and the checksum of the rest, then the JSON body.

    ``inputs``: Inputs.digests() of this render; ``config``: pgrender.yaml's settings the command line
    resolves against (None without one); ``provider``: needs_root_key and writes_plaintext of the
    provider used; ``warnings``: the plans' warnings as text; ``windows``: the certificate windows;
    ``directories``: each cluster's spec digest (plans.spec_digest) and the directory of its files
    ("" for the flat base of one cluster), which with ``inputs``' shared digest is the record's
    ``reuse`` (reuse.py), in any order, each digest once; ``windows`` and ``directories`` are called
    for each of the body's two makings. ``files``: relative path → text of every output file (read
    one at a time: it may be spooled), ``mode`` its mode.

    The body is json.dumps(body, indent=0, sort_keys=True) byte for byte, written a piece at a time
    (_json_pieces; tests/test_record.py holds the two equal): a fleet's record lists tens of
    thousands of files and thousands of clusters and certificate windows, and the whole body as
    objects and json's pieces doubled the peak memory of a render; the windows and the clusters'
    directories, dumped whole, were its peak still (a third of the -o render's rise from one cluster
    to 3000). The body is made twice (its checksum comes first), from each file's digest, held as
    32 bytes in a spill store (in a file past a few thousand files); the clusters sorted by
    spill.sorted_strings.
    """
    from pgrender.spill import Records, sorted_strings

    names = in_order(files)
    digests = Records(32)
    # A spooled output's bytes come a cluster at a time (write.SpooledTexts.chunked_items), not a
    # lookup and a read for each of tens of thousands of files, nor decoded and encoded again.
    chunked = getattr(files, "chunked_items", None)
    items = chunked() if chunked else ((rel, files[rel].encode("utf-8")) for rel in names)
    held = bytearray()  # the digests not yet in the store
    for rel, (named, data) in zip(names, items, strict=True):
        if named != rel:
            from pgrender.errors import InternalError

            raise InternalError(f"the files' bytes out of their names' order: {named} for {rel}")
        digest = _sha256()
        for piece in (data,) if isinstance(data, bytes) else data:
            digest.update(piece)
        held += digest.digest()
        if len(held) == 32 * _DIGESTS_READ:  # a store's write is a system call once it is in a file
            digests.append(bytes(held))
            held.clear()
    digests.append(bytes(held))

    def listed() -> Iterator[tuple[str, _Raw]]:
        held = b""
        for i, rel in enumerate(names):
            if i % _DIGESTS_READ == 0:
                held = digests.read(i, _DIGESTS_READ)
            at = 32 * (i % _DIGESTS_READ)
            yield rel, _Raw(f'[\n"{held[at : at + 32].hex()}",\n{mode(rel)}\n]')

    def clusters_sorted() -> Iterator[tuple[str, str]]:
        last = None
        for pair in sorted_strings(f"{digest}\0{directory}" for digest, directory in directories()):
            digest, _, directory = pair.partition("\0")  # a digest holds no NUL: sorted by digest
            if digest == last:  # the claims refuse a cluster defined twice
                from pgrender.errors import InternalError

                raise InternalError(f"two clusters of one spec digest {digest}")
            last = digest
            yield digest, directory

    def body() -> Iterator[str]:
        return _joined(_json_pieces({
            "inputs": inputs[0],
            "specs": inputs[1],
            "config": config,
            "provider": provider,
            "clusters": clusters,
            "warnings": warnings,
            "files": _Pairs(listed()),
            "windows": ([w[0], w[1], w[2].timestamp(), w[3].timestamp(), w[4]] for w in windows()),
            "reuse": {"inputs": inputs[2], "clusters": _Pairs(clusters_sorted())},
        }))  # fmt: skip

    checksum = _sha256()
    for piece in body():
        checksum.update(piece.encode("utf-8"))
    yield f"{SCHEMA} {checksum.hexdigest()}\n"
    yield from body()
    yield "\n"


_DIGESTS_READ = 1024  # files' digests make() reads back at a time
_JOINED = 1 << 16  # characters of the record make() gives at a time


def _joined(pieces: Iterable[str]) -> Iterator[str]:
    """``pieces`` joined into pieces of about _JOINED characters: what takes them (the checksum, the
    record's digest, the spill file) pays for each piece, and a fleet's record is a piece a file."""
    held: list[str] = []
    size = 0
    for piece in pieces:
        held.append(piece)
        size += len(piece)
        if size >= _JOINED:
            yield "".join(held)
            held, size = [], 0
    if held:
        yield "".join(held)


class _Raw(str):
    """A value's JSON text, written as it is (_json_pieces)."""


class _Pairs:
    """A map's keys and values, in sorted order, written as they are iterated (_json_pieces)."""

    def __init__(self, pairs: Iterator[tuple[str, Any]]) -> None:
        self.pairs = pairs


def _json_pieces(value: Any) -> Iterator[str]:
    """json.dumps(value, indent=0, sort_keys=True), in pieces. With indent=0, a value's text is the
    same at any depth, so each item of a map or list is written alone: an iterator (a list's items)
    or _Pairs (a map's) as it is iterated, never held whole, and a list's or scalar's text whole."""
    import collections.abc
    import json  # the full path's: a record is written after a render

    if isinstance(value, dict):
        value = _Pairs(iter(sorted(value.items())))  # keys are strings: each sorts apart from the others
    if isinstance(value, _Pairs):
        opened = False
        for key, item in value.pairs:
            head = (",\n" if opened else "{\n") + _quote(key) + ": "
            opened = True
            if isinstance(item, _Raw):  # a file's digest and mode: one piece, no generator for it
                yield head + item
            else:
                yield head
                yield from _json_pieces(item)
        yield "\n}" if opened else "{}"
    elif isinstance(value, collections.abc.Iterator):
        opened = False
        for item in value:
            yield ",\n" if opened else "[\n"
            opened = True
            yield from _json_pieces(item)
        yield "\n]" if opened else "[]"
    else:
        yield value if isinstance(value, _Raw) else json.dumps(value, indent=0, sort_keys=True)


def in_order(files: Mapping[str, Any]) -> Iterable[str]:
    """The names of ``files`` in sorted order, to be iterated more than once: the mapping itself
    where it iterates them so (``iterates_sorted``: write.SpooledTexts makes each name as it is
    iterated, and a list of a fleet's 77000 would hold them all again)."""
    return files if getattr(files, "iterates_sorted", False) else sorted(files)


def differing(old: Mapping[str, Any], new: Mapping[str, Any]) -> Iterator[str]:
    """The names whose values differ in ``old`` and ``new``, or that only one of the two holds, in
    sorted order. Two of one kind that compare themselves (``differing``: write.SpooledTexts, a
    directory at a time) do it their way."""
    own = getattr(old, "differing", None)
    if own is not None and type(new) is type(old):
        result: Iterator[str] = own(new)
        return result
    return _differing(old, new)


def _differing(old: Mapping[str, Any], new: Mapping[str, Any]) -> Iterator[str]:
    from heapq import merge

    last = None
    for rel in merge(in_order(old), in_order(new)):
        if rel != last and old.get(rel) != new.get(rel):
            yield rel
        last = rel


# The record's reader ------------------------------------------------------------------------------------------
#
# A fleet's record lists tens of thousands of files (9.7 MB for 3000 clusters): held whole as bytes
# and text, it was a third of the peak of `render -o` (remember_written read it after the write) and
# of a render reusing the clusters it names (reuse.py held it for the whole render). So a record is
# read from its open file a chunk at a time: its checksum over one pass, its body over another, the
# files only as they are verified. Only what is read at once is held: a chunk, and a value.

CHUNK = 1 << 18  # bytes read at a time


def read(path: str, keep: Container[str] | None = None) -> tuple[dict[str, Any], str]:
    """The body of the record at ``path`` whose checksum holds, and the record's digest (SHA-256 of
    its bytes); Unanswered for anything else. The body's "files" is a RecordFiles, read only as the
    files are verified, from the record as it was opened (a record is replaced, never written in
    place: write.write). ``keep``: the keys to read; the others' values are passed over (a fleet's
    certificate windows and clusters are megabytes as objects)."""
    fd = _open_regular(path, follow=False)  # write.write puts back a record that is a link
    file = open(fd, "rb", buffering=0)  # noqa: SIM115 - held by the RecordFiles; closes fd when let go
    try:
        st = os.fstat(fd)
        size, stamp = st.st_size, _stamp(st)
        head = os.pread(fd, 256, 0)  # SCHEMA, a blank and 64 digits
        newline = head.find(b"\n")
        if newline < 0 or size < newline + 2:
            raise Unanswered("record: another schema, or not what was written")
        whole, checksum = _sha256(head[: newline + 1]), _sha256()
        at = newline + 1
        while at < size - 1:  # the body but its last byte, which is a line break
            chunk = os.pread(fd, min(CHUNK, size - 1 - at), at)
            if not chunk:
                raise Unanswered("record: shorter than it was")
            whole.update(chunk)
            checksum.update(chunk)
            at += len(chunk)
        last = os.pread(fd, 1, size - 1)
        if head[:newline] != f"{SCHEMA} {checksum.hexdigest()}".encode() or last != b"\n":
            raise Unanswered("record: another schema, or not what was written")
        whole.update(last)
        return _body(file, newline + 1, size - 1, stamp, keep), str(whole.hexdigest())
    except BaseException as exc:
        file.close()
        if isinstance(exc, (ValueError, IndexError)):
            raise Unanswered("record: not JSON, or not a record's") from None
        raise


_SKIP_DEPTH = 32  # a record's values nest four deep


class _Scanner:
    """JSON read forward from part of an open file (``start`` to ``end``), a chunk at a time, with
    json's C scanner: the text held runs from the value read last to the last line break read. The
    file's text is ASCII (json.dumps and _quote escape all else): a character's index is its byte's
    offset. os.pread: forked workers (pgrender.fleet) share the file and no position in it.

    A chunk ends at a line break and no JSON token spans one, so a value the text holds in part fails
    to scan (its closing bracket is missing): the next chunk is read and the value scanned again."""

    def __init__(self, file: Any, start: int, end: int, chunk: int | None = None) -> None:
        self._file, self._end, self._chunk = file, end, chunk  # None: CHUNK
        self._text, self._i = "", 0
        self._base = self._read = start  # the offset of _text[0]; of the first byte not yet read
        self._pending = b""  # read after the last line break

    @property
    def offset(self) -> int:
        return self._base + self._i

    def _more(self, size: int = 0) -> bool:
        """Whether there was more to read (a chunk, or ``size`` bytes); the text read is let go up
        to the present offset."""
        if self._read >= self._end:
            if not self._pending:
                return False
            data, self._pending = self._pending, b""  # the end of the part: no line break after it
        else:
            at_once = max(size, CHUNK if self._chunk is None else self._chunk)
            chunk = os.pread(self._file.fileno(), min(at_once, self._end - self._read), self._read)
            if not chunk:
                raise ValueError("record: shorter than it was")
            self._read += len(chunk)
            data = self._pending + chunk
            cut = data.rfind(b"\n") + 1 if self._read < self._end else len(data)
            data, self._pending = data[:cut], data[cut:]
        self._text = self._text[self._i :] + data.decode("ascii")
        self._base += self._i
        self._i = 0
        return True

    def value(self) -> Any:
        """The JSON value at the offset, which moves past it; ValueError for none. A value larger
        than a chunk (the certificate windows of thousands of clusters) is read in ever larger
        pieces: each failed scan reads as much again, so it is scanned a few times, not once a chunk."""
        while True:
            try:
                value, end = _scan(self._text, self._i)
            except (StopIteration, ValueError):
                if self._more(len(self._text) - self._i):
                    continue
                raise ValueError("record: a value expected") from None
            self._i = end
            return value

    def pair(self) -> tuple[Any, Any, int, bool]:
        """The key and the value of the pair ("key": value) at the offset, its offset, and whether
        ",\n" follows it; the offset moves past that. A fleet's record holds tens of thousands: each
        is scanned in one go, with json's scanner itself (_scan's SystemError caught here)."""
        while True:
            text, i = self._text, self._i
            try:
                key, j = _scanner(text, i)
                if not text.startswith(": ", j):
                    raise ValueError("record: ': ' expected")
                value, j = _scanner(text, j + 2)
            except (StopIteration, ValueError, SystemError, RecursionError):
                if self._more():
                    continue
                raise ValueError("record: a pair expected") from None
            if j + 2 > len(text) and self._more():  # what follows is not read yet
                continue
            follows = text.startswith(",\n", j)
            self._i = j + 2 if follows else j
            return key, value, self._base + i, follows

    def at(self, literal: str) -> bool:
        """Whether ``literal`` is at the offset."""
        while len(self._text) - self._i < len(literal) and self._more():
            pass
        return self._text.startswith(literal, self._i)

    def expect(self, literal: str) -> None:
        """Past ``literal``; ValueError when it is not at the offset."""
        if not self.at(literal):
            raise ValueError(f"record: {literal!r} expected")
        self._i += len(literal)

    def line(self) -> tuple[Any, str, int] | None:
        """The JSON value that starts the line at the offset, the text after it and a blank, and the
        line's offset (a line of the stat cache); the offset moves to the next line. None at the end,
        and for a last line without its line break (torn)."""
        while True:
            text, i = self._text, self._i
            end = text.find("\n", i)
            if end < 0:
                if self._more():
                    continue
                return None
            try:
                value, j = _scan(text, i)
            except StopIteration:
                raise ValueError("stat cache: a value expected") from None
            if j >= end or text[j] != " ":
                raise ValueError("stat cache: a blank expected")
            self._i = end + 1
            return value, text[j + 1 : end], self._base + i

    def skip_value(self, depth: int = 0) -> None:
        """Past the JSON value at the offset, as make() writes it (json.dumps with indent=0: each item
        of an array or object on a line of its own), holding one item's scalar at a time; ValueError
        for other text."""
        if depth > _SKIP_DEPTH:
            raise ValueError("record: nested too deep")
        for opening, closing in ("[]", "{}"):
            if self.at(opening + closing):
                self._i += 2
                return
            if self.at(opening + "\n"):
                self._i += 2
                while True:
                    if opening == "{":
                        if not isinstance(self.value(), str):
                            raise ValueError("record: a key expected")
                        self.expect(": ")
                    self.skip_value(depth + 1)
                    if not self.at(",\n"):
                        break
                    self._i += 2
                self.expect("\n" + closing)
                return
        if self.at("[") or self.at("{"):
            raise ValueError("record: not as written")
        self.value()

    def skip_to(self, literal: str) -> None:
        """The offset moved to the next ``literal``, the text before it let go; ValueError for none."""
        while (found := self._text.find(literal, self._i)) < 0:
            self._i = max(self._i, len(self._text) - len(literal) + 1)
            if not self._more():
                raise ValueError(f"record: no {literal!r}")
        self._i = found

    def at_end(self) -> bool:
        return self._i == len(self._text) and not self._more()


def _stamp(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _unchanged(file: Any, stamp: tuple[int, ...]) -> None:
    """ValueError unless the open record is as it was checksummed: written over in place (`cp`
    does that; write.write never does), its body would not be the bytes its checksum is of."""
    if _stamp(os.fstat(file.fileno())) != stamp:
        raise ValueError("record: written over since it was read")


def _body(
    file: Any, start: int, end: int, stamp: tuple[int, ...], keep: Container[str] | None = None
) -> dict[str, Any]:
    """json.loads of the record's body as make() writes it (json.dumps with indent=0), but for
    "files": a fleet's record lists tens of thousands of files, which as objects took more memory
    than the render that wrote them. Its object is passed over to the first line holding only "}"
    (no JSON string holds a line break, and its values are lists), and RecordFiles reads it to
    exactly there, or raises. Only the keys in ``keep`` (None: every key)."""
    scanner = _Scanner(file, start, end)
    found: dict[str, Any] = {}
    seen: set[str] = set()
    scanner.expect("{\n")
    while True:
        key = scanner.value()
        if not isinstance(key, str) or key in seen:  # json.loads takes the last: a record has one
            raise ValueError("record: a key expected, once")
        seen.add(key)
        scanner.expect(": ")
        if keep is not None and key not in keep:
            scanner.skip_value()
        elif key == "files" and (scanner.at("{}") or scanner.at("{\n}")):
            scanner.expect("{}" if scanner.at("{}") else "{\n}")
            found[key] = RecordFiles(file, 0, 0, stamp)
        elif key == "files":
            scanner.expect("{\n")
            first = scanner.offset
            scanner.skip_to("\n}")
            found[key] = RecordFiles(file, first, scanner.offset + 1, stamp)
            scanner.expect("\n}")
        else:
            found[key] = scanner.value()
        if not scanner.at(",\n"):
            break
        scanner.expect(",\n")
    scanner.expect("\n}")
    if not scanner.at_end():
        raise ValueError("record: more after the body")
    _unchanged(file, stamp)
    return found


class RecordFiles:
    """The record's files as (path, [SHA-256, mode]) pairs, in the record's (sorted) order, read one
    at a time from the record's open file as make() writes them (json.dumps with indent=0: a pair to
    a line and its list over the next ones); ValueError for any other text, and where the files do
    not end where _body passed over them."""

    def __init__(self, file: Any, start: int, end: int, stamp: tuple[int, ...]) -> None:
        self._file, self._start, self._end = file, start, end  # the first pair's offset; the "}"'s
        self._stamp = stamp

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        for rel, value, _ in self.placed():
            yield rel, value

    def unchanged(self) -> None:
        """ValueError where the record was written over in place since it was read (_unchanged):
        pairs read from it since, one placed() not read to its end, may be another record's."""
        _unchanged(self._file, self._stamp)

    def placed(self, at: int | None = None, chunk: int | None = None) -> Iterator[tuple[str, Any, int]]:
        """Each pair with its offset, from the pair at ``at`` (one placed() gave) or from the first,
        read ``chunk`` bytes at a time (None: CHUNK); reuse.py reads a cluster's files so, not all of a fleet's,
        and as many bytes as they take (a chunk of 256 KiB for each of 1000 clusters was 0.4 s)."""
        if self._start == self._end:  # {}
            return
        scanner = _Scanner(self._file, self._start if at is None else at, self._end, chunk)
        follows = True
        while follows:
            rel, value, start, follows = scanner.pair()
            if not isinstance(rel, str):
                raise ValueError("record: not as written")
            yield rel, value, start
        scanner.expect("\n")
        if not scanner.at_end():
            raise ValueError("record: the files end elsewhere")
        _unchanged(self._file, self._stamp)


# The stat cache -----------------------------------------------------------------------------------------------
#
# One file per output directory: a line of JSON naming the record and the code it is of, then a line
# a file, in the record's order: its path (a JSON string) and its signature (inode, size, mtime and
# ctime). Read and written a line at a time, beside a walk of the output in the same order.


def _cache_file(directory: str) -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pgrender", _sha(os.fsencode(os.path.realpath(directory)))[:32] + ".cache")


def _signature(st: os.stat_result) -> str:
    return f"{st.st_ino} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns}"


# A file changed twice within one tick of the clock that stamps it keeps its mtime and ctime; with
# its size and inode, its signature. Two clocks make the tick: the kernel stamps files from a clock
# that moves once a timer interrupt (kernels from 6.13 stamp finer once a file's times were read),
# behind time.time_ns() by as much; and a file system keeps its times to a grain (_grain).
CLOCK_REALTIME_COARSE = 5  # <linux/time.h>: the clock Linux stamps files from


def _stamp_lag() -> int:
    """Twice the interval of the clock that stamps files: its resolution on Linux (4 ms at HZ=250),
    else 10 ms (HZ=100, the coarsest Linux has)."""
    tick = time.clock_getres(CLOCK_REALTIME_COARSE) if sys.platform.startswith("linux") else 0.01
    return 2 * int(tick * 1e9)


STAMP_LAG_NS = _stamp_lag()
SETTLE_WAIT_NS = 50_000_000  # the longest remember_written waits (a file system of coarser grain: none)


def _settled_at(st: os.stat_result) -> int:
    """The time.time_ns() from which a stat of the file tells any later change of it from ``st``."""
    return max(ns + _grain(ns) + STAMP_LAG_NS for ns in (st.st_mtime_ns, st.st_ctime_ns))


COARSEST_GRAIN_NS = 2_000_000_000  # _grain's largest


def _grain(ns: int) -> int:
    """The coarsest grain a file system could have kept the time ``ns`` to: FAT's 2 seconds for a
    whole second (ext3 and HFS+ keep 1 s), else the largest power of ten that divides it (exFAT: 10
    ms, NTFS: 100 ns; ext4, xfs, btrfs, tmpfs: 1 ns). A finer grain's time is a multiple of 10 only
    by chance, which costs a read, never a change missed."""
    if ns % 1_000_000_000 == 0:
        return COARSEST_GRAIN_NS
    grain = 1
    while ns % (10 * grain) == 0:
        grain *= 10
    return grain


def _settled(st: os.stat_result, taken: int) -> bool:
    """Whether ``st``, a stat made after ``taken`` (time.time_ns()), tells any later change of the
    file; else the file could have changed since within the tick that stamped it."""
    latest = max(st.st_mtime_ns, st.st_ctime_ns)  # most files: stamped before any grain's tick (no _grain)
    return latest + COARSEST_GRAIN_NS + STAMP_LAG_NS <= taken or _settled_at(st) <= taken


class _CacheWriter:
    """A new stat cache for ``directory``, written a file at a time beside it (after ``lines``, in
    the cache's form); in place only once committed. A cache: a failure is no error (the writer
    stops), and a torn line is read as no signature. ``taken``: time.time_ns() before any file
    whose signature is added was stat'ed (_settled)."""

    def __init__(self, directory: str, record_digest: str, code: str, taken: int, lines: Iterable[bytes] = ()) -> None:
        self._path = _cache_file(directory)
        self._temporary = f"{self._path}.{os.getpid()}"
        self._file: Any = None
        try:
            os.makedirs(os.path.dirname(self._path), mode=0o700, exist_ok=True)
            self._file = open(self._temporary, "wb")  # noqa: SIM115 - closed by close()
            self._file.write(_dumps({"record": record_digest, "code": code, "taken": taken}).encode() + b"\n")
            for piece in lines:
                self._file.write(piece)
        except (OSError, ValueError):  # ValueError: the old cache's lines, read as they are copied
            self.close()

    def add(self, rel: str, signature: str) -> None:
        if self._file is not None:
            try:
                self._file.write(f"{_quote(rel)} {signature}\n".encode())
            except OSError:
                self.close()

    def commit(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
                os.replace(self._temporary, self._path)
                _prune(os.path.dirname(self._path))
            except OSError:
                pass
            self._file = None

    def close(self) -> None:
        """Stop, leaving the cache as it was (after commit: nothing to do)."""
        if self._file is not None:
            try:  # noqa: SIM105 - contextlib.suppress: the fast path does not import contextlib
                self._file.close()
            except OSError:
                pass
            self._file = None
        try:  # noqa: SIM105 - as above
            os.unlink(self._temporary)
        except OSError:
            pass


# Output directories whose stat caches are kept: one per directory rendered into, and directories
# come and go (CI checkouts, temporary ones), so the least recently written beyond these are deleted.
# One deleted costs its directory's next run a read of each file, once.
CACHES_KEPT = 32


def _prune(caches: str) -> None:
    """Delete the files of ``caches`` (pgrender's own directory) but the CACHES_KEPT written last:
    caches, a crashed writer's temporary, a cache of an earlier version's form."""
    with os.scandir(caches) as entries:
        found = [(entry.stat().st_mtime_ns, entry.path) for entry in entries if entry.is_file(follow_symlinks=False)]
    if len(found) > CACHES_KEPT:
        for _, path in sorted(found)[: len(found) - CACHES_KEPT]:
            try:  # noqa: SIM105 - contextlib.suppress: the fast path does not import contextlib
                os.unlink(path)
            except OSError:
                pass  # another run pruned it first


def remember_written(directory: str, code: str, record_digest: str) -> None:
    """After a write by pgrender's code of fingerprint ``code`` (taken before rendering): the stat
    signatures of the output just written, when it holds the record of digest ``record_digest``
    (the one written), each file hashed after its stat (verify_output). Another process may change
    a file between the write and the stat (a watcher that formats what appears), or replace the
    output and its record (a `git pull` of output another build rendered): a signature saved
    unchecked would vouch for that file for good.

    What was just written is stamped within the tick of the clock: that is waited out first, when
    it is a few milliseconds away (files of a coarser grain, or stamped in the future, are left to
    the next run to read), or the next run would read it all again."""
    try:
        body, found = read(os.path.join(directory, RECORD), keep=("files",))
        if found != record_digest:
            return
        files = body["files"]
        now = time.time_ns()
        settling = (_settled_at(st) for _, _, st in _walk(directory))
        wait = max((at for at in settling if at <= now + SETTLE_WAIT_NS), default=now) - now
        if wait > 0:
            time.sleep(wait / 1e9)
        verify_output(directory, files, record_digest, code, cache=_Cache(0))
    except DOUBTS:  # a cache: the next run reads the files instead
        return


def _walk(directory: str) -> Iterator[tuple[str, str, os.stat_result]]:
    """Each file below ``directory`` but the record: its path, where it is, and its lstat, in the
    order sorted() gives the paths (the record's), a directory's entries read at a time; Unanswered
    for a directory whose mode is not DIR_MODE."""
    pending = [_entries(directory, "")]  # a stack: the entries of each directory entered and not done
    while pending:
        for rel, path, is_dir in pending[-1]:
            if is_dir:
                pending.append(_entries(path, rel))
                break
            if rel != RECORD:
                yield rel, path, os.lstat(path)
        else:
            pending.pop()


def _entries(path: str, rel_dir: str) -> Iterator[tuple[str, str, bool]]:
    """The entries of a directory of mode DIR_MODE as (path, where it is, whether a directory),
    sorted as sorted() sorts the paths below it: a directory as its name and "/". Each is held as
    that name only (a fleet's output directory holds a directory a cluster)."""
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or stat.S_IMODE(st.st_mode) != DIR_MODE:
        raise Unanswered(f"{path}: not a directory of mode {DIR_MODE:o}")
    with os.scandir(path) as scanned:
        keys = sorted(entry.name + "/" if entry.is_dir(follow_symlinks=False) else entry.name for entry in scanned)
    prefix, where = f"{rel_dir}/" if rel_dir else "", path if path.endswith("/") else f"{path}/"
    for key in keys:
        name = key.removesuffix("/")  # no name holds a "/"
        yield prefix + name, where + name, name != key


def cached(directory: str, record_digest: str, code: str) -> _Cache:
    """The stat signatures saved for ``directory`` when this code rendered or checked it against this
    record; Unanswered when there are none: then this code never made the record's output here."""
    try:
        fd = os.open(_cache_file(directory), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        raise Unanswered("no stat cache") from None
    file = open(fd, "rb", buffering=0)  # noqa: SIM115 - held by the _Cache; closes fd when let go
    try:
        size = os.fstat(fd).st_size
        head = os.pread(fd, 1024, 0)  # the header: two digests and a number
        newline = head.find(b"\n")
        header = _loads(head[:newline]) if newline >= 0 else None
        if not isinstance(header, dict) or header.get("record") != record_digest or header.get("code") != code:
            raise Unanswered("the stat cache is of another record, or of another build of pgrender")
        taken = header.get("taken")
        if type(taken) is not int:
            raise Unanswered("a stat cache of an earlier form")
        return _Cache(taken, file, newline + 1, size)
    except (OSError, ValueError):
        file.close()
        raise Unanswered("no stat cache") from None
    except BaseException:
        file.close()
        raise


class _Cache:
    """The stat cache's lines after its first (from ``start`` to ``end`` of its open ``file``), read
    forward in the record's order, a chunk at a time (_Scanner): ``at(rel)`` is the signature saved
    for ``rel``, asked in that order, or "" where none is. ``taken``: when the signatures were taken
    (before the stats, time.time_ns()). Without a file: no signature."""

    def __init__(self, taken: int, file: Any = None, start: int = 0, end: int = 0) -> None:
        self.taken = taken
        self._file, self._start = file, start
        self._lines = _Scanner(file, start, end) if file is not None else None
        self._line = start  # where the line read last starts
        self._rel, self._signature = "", ""
        self._read()

    def _read(self) -> None:
        line = self._lines.line() if self._lines is not None else None
        if line is None:  # the end, or a torn line: read as not cached
            self._rel = ""
            return
        self._rel, self._signature, self._line = line

    def at(self, rel: str) -> str:
        while self._rel and self._rel < rel:
            self._read()
        return self._signature if self._rel == rel else ""

    def before(self) -> Iterator[bytes]:
        """The lines before the one read last, read again a chunk at a time: those of the paths asked
        for so far (and of others the record does not hold, which verify_output never asks for)."""
        if self._lines is None:
            return
        at, end = self._start, self._line if self._rel else self._lines.offset  # at the end: all whole lines
        while at < end:
            chunk = os.pread(self._file.fileno(), min(CHUNK, end - at), at)
            if not chunk:
                raise ValueError("stat cache: shorter than it was")
            yield chunk
            at += len(chunk)


def verify_output(
    directory: str,
    files: Iterable[tuple[str, Any]],
    record_digest: str,
    code: str,
    cache: _Cache | None = None,
) -> int:
    """The number of files, unless ``directory`` holds other than exactly the record's ``files``
    (bytes and modes), in directories of mode DIR_MODE, as write.write leaves them, or this code has
    not checked them against this record before: Unanswered. The output, the record's files and the
    cache are read side by side, in one order, a file at a time.

    The stat signatures are saved anew when some file had to be read. The new cache is written
    from the first such file on, after the old one's lines up to it: every file before it had its
    signature there, settled; it still holds it, stat'ed after this run's ``taken``. ``cache``: the
    signatures to trust instead of the saved ones (an empty one: every file is read)."""
    expected: Iterator[tuple[str, Any]] = iter(files)
    taken = time.time_ns()
    if cache is None:
        cache = cached(directory, record_digest, code)
    writer: _CacheWriter | None = None
    count = 0
    try:
        for rel, path, st in _walk(directory):
            wanted_rel, wanted = next(expected, ("", []))
            if wanted_rel != rel or not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != wanted[1]:
                raise Unanswered(f"{rel}: not in the record, not a file, or another mode")
            signature = _signature(st)
            if cache.at(rel) != signature or not _settled(st, cache.taken):
                if _sha(_read(path)) != wanted[0]:
                    raise Unanswered(f"{rel}: changed")
                if writer is None:
                    writer = _CacheWriter(directory, record_digest, code, taken, cache.before())
            if writer is not None:
                writer.add(rel, signature)
            count += 1
        if next(expected, None) is not None:
            raise Unanswered("a file of the record is missing")
        if writer is not None:
            writer.commit()
    finally:
        if writer is not None:
            writer.close()
    return count


# The fast path ------------------------------------------------------------------------------------------------


def _arguments(argv: list[str], environ: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """The command and its parameters, as click would read them (pgrender.direct), in a form this
    module answers; else Unanswered."""
    from pgrender.cli_table import COMMANDS
    from pgrender.direct import parse

    parsed = parse(argv, environ)
    if parsed is None or parsed[0] not in ANSWERED:
        raise Unanswered("another command, or a command line click answers")
    command, params = parsed
    defaults = COMMANDS[(command,)]["defaults"]
    if any(value != defaults[name] for name, value in params.items() if name not in ANSWERED[command]):
        raise Unanswered("an option not answered here")
    return command, params


def _config_output(config_path: str) -> str:
    """Where the config's record is: `output:` read as a plain line, else the default. Only a guess:
    the record found there must name this config's bytes and this output path to be believed."""
    for line in _read(config_path).decode("utf-8", "replace").splitlines():
        if line.startswith("output:"):
            return line[len("output:") :].split("#", 1)[0].strip().strip("\"'") or "rendered"
    return "rendered"


def answer(argv: list[str], environ: Mapping[str, str]) -> tuple[str, int]:
    """What the command prints on standard error, and its exit status, when the record proves the
    output current; Unanswered otherwise."""
    command, options = _arguments(argv, environ)
    config_path = options["config_path"] or ("pgrender.yaml" if os.path.isfile("pgrender.yaml") else None)
    output = options.get("output") or None  # an empty -o is none, as the full path reads it
    if command == "render" and (output is None) == (not options["write_config"]):
        raise Unanswered("render needs exactly one of -o and --write")
    if output is None and config_path is None:
        raise Unanswered("no output directory")
    located = output or os.path.join(os.path.dirname(config_path or ""), _config_output(config_path or ""))
    _as_written(os.path.join(located, RECORD))
    body, record_digest = read(os.path.join(located, RECORD))
    config: dict[str, Any] = body["config"] or {}
    if (config_path is None) != (body["config"] is None):
        raise Unanswered("a config now and not then, or then and not now")
    target = output or config["output"]
    spec_files = list(options["specs"]) or _spec_files(config)
    namespace = options["namespace"] or config.get("namespace")
    if command == "validate":
        _, specs, _ = Inputs.of(
            config_path=config_path,
            target=target,
            provider="",
            namespace=namespace,
            key_file=None,
            certificate=None,
            needs_root_key=False,
            environ=environ,
        ).digests(spec_digests(spec_files))
        if specs != body["specs"] or os.path.realpath(located) != os.path.realpath(target):
            raise Unanswered("the specs, config or pgrender changed, or the record is of another directory")
        cached(target, record_digest, code_fingerprint())
        return _printed(body, f"{body['clusters']} cluster(s) valid"), 0
    provider = options["secrets_provider"] or config.get("provider") or "derived"
    inputs, _, _ = Inputs.of(
        config_path=config_path,
        target=target,
        provider=provider,
        namespace=namespace,
        key_file=options["key_file"] or _config_file(config, "key_file"),
        certificate=options["sealing_certificate"] or _config_file(config, "certificate"),
        needs_root_key=body["provider"]["needs_root_key"],
        environ=environ,
    ).digests(spec_digests(spec_files))
    if inputs != body["inputs"] or os.path.realpath(located) != os.path.realpath(target):
        raise Unanswered("an input changed, or the record is of another directory")
    if command == "render" and body["provider"]["writes_plaintext"] and not options["allow_secrets_in_git"]:
        _refuse_plaintext_in_git(target)
    count = verify_output(os.path.realpath(target), body["files"], record_digest, code_fingerprint())
    if command == "check":
        return _printed(body, f"{_as_path(target)}: up to date"), 0
    return _printed(body, f"wrote {count} files to {target}"), 0


def _as_written(path: str) -> None:
    """Unanswered unless the record is a regular file of write.write's mode, as the full path
    leaves it (it puts back one that is a symlink or of another mode; verify_output holds the
    output's files to the same)."""
    try:
        st = os.lstat(path)
    except OSError:
        raise Unanswered(f"{path}: cannot read") from None
    if not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != RECORD_MODE:
        raise Unanswered(f"{path}: not a file, or another mode")


def written_digest(path: str) -> str | None:
    """The SHA-256 of the record at ``path`` when it is as write.write leaves one (_as_written: a
    regular file of its mode, not a symlink); "" for anything else there (a symlink, a FIFO, another
    mode, unreadable), which the next write replaces; None when nothing is. Never blocks: a FIFO is
    not read."""
    if not os.path.lexists(path):
        return None
    try:
        _as_written(path)
        fd = _open_regular(path, follow=False)
    except Unanswered:
        return ""
    try:
        return _sha(read_open(fd))
    except OSError:
        return ""
    finally:
        os.close(fd)


def _config_file(config: dict[str, Any], name: str) -> str | None:
    """A file pgrender.yaml names (secrets.keyFile, secrets.sealed.certificate), as
    config.LoadedConfig resolves it now: relative to the config's directory, ``~`` expanded with
    this run's HOME. The record holds it as written: a HOME changed since is another file."""
    written = config.get(name)
    return os.path.join(config["root"], os.path.expanduser(written)) if written else None


def _as_path(text: str) -> str:
    """str(Path(text)), as check names the directory; pathlib (3.5 ms) only when there is something
    to normalise (a trailing /, //, a . component)."""
    if text and "//" not in text and "/./" not in text and not text.endswith(("/", "/.")) and text[:2] != "./":
        return text
    from pathlib import Path

    return str(Path(text))


def _spec_files(config: dict[str, Any]) -> list[str]:
    from pgrender.globs import spec_files

    found = spec_files(config["root"], config["specs"])
    if not found:
        raise Unanswered("no spec file: the full path says so")
    return found


def _refuse_plaintext_in_git(target: str) -> None:
    """The full path's git check, with the same verdict; a refusal is the full path's to report."""
    from pgrender.gitcheck import refusal

    if refusal(target) is not None:
        raise Unanswered("plaintext Secrets where git would see them: the full path refuses")


def _printed(body: dict[str, Any], summary: str) -> str:
    """The standard error of the full path: the plans' warnings, the certificates', the summary."""
    warnings = "".join(f"warning: {w}\n" for w in _certificate_warnings(body["windows"]))
    return f"{body['warnings']}{warnings}{summary}\n"


def _certificate_warnings(windows: list[list[Any]]) -> list[str]:
    """validity's warnings of the recorded windows (start and end in seconds since the epoch). Most
    runs have none to print, which the clock says without datetime and validity.py (2 ms)."""
    import time

    now = time.time()
    if all(start <= now and end - now >= QUIET_SECONDS for _, _, start, end, _ in windows):
        return []
    import datetime as dt

    from pgrender.validity import window_warnings

    parsed = [
        (where, what, dt.datetime.fromtimestamp(start, dt.UTC), dt.datetime.fromtimestamp(end, dt.UTC), fix)
        for where, what, start, end, fix in windows
    ]
    return window_warnings(parsed)


def main() -> None:
    """The console script: answer from the record when it proves the output current, else run the
    command line (pgrender.direct, which hands click what it does not parse). Any doubt (an option
    not answered here, a record that does not match, an error reading anything) is the full path's."""
    try:
        text, code = answer(sys.argv[1:], os.environ)
    except DOUBTS:
        text, code = "", -1
    except KeyboardInterrupt:  # while the record is read and the output stat'ed: nothing was written
        text, code = "\nAborted!\n", 1
    if code < 0:
        # Outside the except block: its traceback would keep answer()'s frames, and with them the
        # record and the stat cache it read, for the whole render.
        try:
            from pgrender import tuning

            tuning.command_process()
            from pgrender.direct import main as run

            run(sys.argv[1:])  # never returns: commands.leave ends the process, and says what Ctrl-C stopped
        except KeyboardInterrupt:  # while the full path was imported or the command line parsed
            commands = sys.modules.get("pgrender.commands")
            if commands is not None:
                commands.interrupted()  # it says whether this run's write put the output in place
            text, code = "\nAborted!\n", 1
    stream = sys.stderr
    if hasattr(stream, "reconfigure"):
        stream.reconfigure(encoding="utf-8", errors="backslashreplace")  # as cli._utf8_streams
    stream.write(text)
    stream.flush()
    os._exit(code)
