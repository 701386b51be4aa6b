"""The record of a render (pgrender/record.py): a run with nothing changed is answered from it, printing
what the full path prints; every change of an input, of the record or of the output is detected, sends
the run to the full path, and ends in the output a clean render makes (trees compared byte for byte).
The fast path imports only what it needs (no click, pydantic, cryptography, spec models)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pgrender import commands, load, record, render, reuse, tuning, write
from pgrender.errors import Problem
from pgrender.plan import ClusterPlan
from pgrender.plans import spec_digest
from pgrender.secrets import keys
from pgrender.validity import Window
from tests.conftest import GOLDEN_KEY, ROOT, base_spec, run_cli, traced_peak

RENDER = ("render", "--write", "--exit-code")
CHECK = ("check",)
CONFIG = "apiVersion: pgrender.io/v1alpha1\nkind: RenderConfig\nsecrets: {keyFile: root.key}\n"
CERTIFICATE = ROOT / "tests" / "fixtures" / "sealed_secrets" / "controller.crt"
NOW = dt.datetime.now(dt.UTC)


def spec(name: str) -> str:
    """A cluster whose render warns twice: a memory limit PostgreSQL does not fit, certificates ending soon."""
    data = base_spec()
    data["metadata"]["name"] = name
    data["spec"]["instances"][0]["resources"] = {"limits": {"memory": "727Mi"}}
    not_before = (NOW - dt.timedelta(days=100)).strftime("%Y-%m-%dT%H:%M:%SZ")
    data["spec"]["tls"] = {"notBefore": not_before, "validityDays": 130}
    return yaml.safe_dump(data, sort_keys=False)


def make_repository(repo: Path) -> None:
    repo.mkdir()
    (repo / "pgrender.yaml").write_text(CONFIG)
    shutil.copyfile(GOLDEN_KEY, repo / "root.key")
    (repo / "root.key").chmod(0o600)
    (repo / "a.pgcluster.yaml").write_text(spec("a"))
    (repo / "b.pgcluster.yaml").write_text(spec("b"))


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two specs, pgrender.yaml (derived, the test key in root.key), rendered once; the working directory."""
    make_repository(tmp_path / "repo")
    monkeypatch.chdir(tmp_path / "repo")
    monkeypatch.setenv("PGRENDER_ALLOW_TEST_KEY", "1")
    monkeypatch.delenv("PGRENDER_KEY", raising=False)
    first = run_cli(*RENDER)
    assert first.exit_code == 1, first.stderr  # it created the files
    return tmp_path / "repo"


def fast(*argv: str) -> tuple[str, int] | None:
    """The fast path's answer (standard error, exit status), or None when it leaves the run to the full path."""
    try:
        return record.answer(list(argv), os.environ)
    except record.DOUBTS:
        return None


def tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def without_record(files: dict[str, bytes]) -> dict[str, bytes]:
    return {rel: data for rel, data in files.items() if rel != record.RECORD}


def clean_render(repo: Path, args: tuple[str, ...]) -> tuple[int, dict[str, bytes]]:
    """Exit status and output of a render of the same inputs in a fresh copy of the repository."""
    clean = repo.parent / "clean"
    shutil.copytree(repo, clean, ignore=shutil.ignore_patterns("rendered"))
    os.chdir(clean)
    try:
        result = run_cli(*RENDER, *args)
        return result.exit_code, tree(clean / "rendered") if (clean / "rendered").is_dir() else {}
    finally:
        os.chdir(repo)


# What the fast path says ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prepare", "fast_args", "full_args"),
    [
        ((), RENDER, RENDER),
        ((), ("render", "-o", "rendered", "--exit-code"), ("render", "-o", "rendered", "--exit-code")),
        ((), ("render", "--write", "--format", "text"), ("render", "--write")),
        ((), ("render", "--write", "--key-file=root.key"), ("render", "--write", "--key-file", "root.key")),
        ((), CHECK, CHECK),
        (("render", "-o", "rendered/"), ("check", "-o", "rendered/"), ("check", "-o", "rendered/")),
        ((), ("validate",), ("validate",)),
    ],
)
def test_nothing_changed_is_answered_as_the_full_path_answers(
    repo: Path, prepare: tuple[str, ...], fast_args: tuple[str, ...], full_args: tuple[str, ...]
) -> None:
    if prepare:  # the record of another spelling of the output directory
        assert run_cli(*prepare).exit_code == 0
    answered = fast(*fast_args)
    full = run_cli(*full_args)
    assert answered is not None
    assert answered == (full.stderr, full.exit_code)
    assert "warning: " in full.stderr and "does not fit" in full.stderr and "expire on" in full.stderr


def test_a_run_without_warnings_is_answered_as_the_full_path_answers(repo: Path) -> None:
    for name in ("a", "b"):
        (repo / f"{name}.pgcluster.yaml").write_text(
            (ROOT / "examples" / "hippo.yaml").read_text().replace("hippo", name)
        )
    assert run_cli(*RENDER).exit_code == 1
    for argv in (RENDER, CHECK, ("validate",)):
        full = run_cli(*argv)
        assert "warning" not in full.stderr
        assert fast(*argv) == (full.stderr, full.exit_code)


def test_a_file_whose_mtime_alone_changed_is_read_and_the_run_still_answered(repo: Path) -> None:
    some = repo / "rendered" / "a" / "kustomization.yaml"
    os.utime(some, ns=(1, 1))
    before = tree(repo / "rendered")
    assert fast(*RENDER) is not None
    assert fast(*CHECK) is not None
    assert tree(repo / "rendered") == before


@pytest.mark.parametrize(
    ("change", "answered"),
    [
        (None, True),  # current: the check saves the signatures, the next check is answered
        (lambda repo: (repo / "rendered" / "a" / "kustomization.yaml").write_text("# edited\n"), False),  # stale
        (lambda repo: (repo / "a.pgcluster.yaml").write_text(spec("a") + "# a comment\n"), False),  # another record
    ],
)
def test_a_check_of_current_output_without_a_stat_cache_saves_one(
    repo: Path, change: Callable[[Path], object] | None, answered: bool
) -> None:
    """After an upgrade or in a fresh clone there is no stat cache of this code: a check rendered
    every time, and never saved one (only a render did). It saves one where the output is current
    and the record is the one a render of the same inputs writes, as a render would."""
    shutil.rmtree(_cache(repo).parent)
    if change:
        change(repo)
    assert fast(*CHECK) is None
    run_cli(*CHECK)
    assert (fast(*CHECK) is not None) == answered
    assert _cache(repo).exists() == answered


def test_the_stat_signatures_are_saved_only_for_the_record_written(repo: Path) -> None:
    """A render (or a check) names the record it wrote (or found current) by its digest: output and
    record replaced meanwhile (a `git pull` of another build's output) are not vouched for."""
    shutil.rmtree(_cache(repo).parent)
    output = os.path.realpath(repo / "rendered")
    record.remember_written(output, record.code_fingerprint(), "0" * 64)
    assert not _cache(repo).exists()
    record.remember_written(output, record.code_fingerprint(), record.read(os.path.join(output, record.RECORD))[1])
    assert _cache(repo).exists() and fast(*CHECK) is not None


def test_output_and_record_replaced_before_a_check_saves_signatures_are_not_vouched_for(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check found the output current; before it saves the signatures, output and record are
    replaced by another build's (a file with other bytes, under a record naming them). Before, that
    output was vouched for: check, and render through reuse, called it current for good."""
    shutil.rmtree(_cache(repo).parent)
    out = repo / "rendered"
    some = out / "a" / "kustomization.yaml"
    other = some.read_bytes() + b"# another build\n"
    _, rest = (out / record.RECORD).read_bytes().split(b"\n", 1)
    body = rest[:-1].replace(record._sha(some.read_bytes()).encode(), record._sha(other).encode())
    replaced = f"{record.SCHEMA} {record._sha(body)}\n".encode() + body + b"\n"
    remember = record.remember_written

    def replaced_first(*args: Any) -> None:
        for path, data in ((some, other), (out / record.RECORD, replaced)):
            (out / ".swap").write_bytes(data)
            (out / ".swap").chmod(0o644)
            os.replace(out / ".swap", path)
        remember(*args)

    monkeypatch.setattr(record, "remember_written", replaced_first)
    assert run_cli(*CHECK).exit_code == 0
    monkeypatch.setattr(record, "remember_written", remember)
    assert not _cache(repo).exists()
    assert fast(*CHECK) is None
    assert run_cli(*CHECK).exit_code == 1


def test_a_record_written_over_in_place_after_it_was_read_is_refused(repo: Path) -> None:
    """Its files are read after its checksum: bytes written over it in place meanwhile (cp does
    that; pgrender replaces the file) are not the bytes the checksum is of."""
    path = repo / "rendered" / record.RECORD
    body, _ = record.read(str(path))
    data = path.read_bytes()
    with open(path, "r+b") as file:
        file.write(data.replace(b'"clusters": 2', b'"clusters": 3'))
    with pytest.raises(ValueError, match="written over"):
        list(body["files"])


def _cache(repo: Path) -> Path:
    return Path(record._cache_file(os.path.realpath(repo / "rendered")))


def _rewrite_cache(repo: Path, later: int = 0, signed: str = "") -> None:
    """The stat cache as a run ``later`` ns after the one that wrote it would have written it, with
    the signature file ``signed`` has now."""
    header, *lines = _cache(repo).read_text().splitlines(keepends=True)
    head = json.loads(header)
    if later:
        head["taken"] += later
    if signed:
        signature = record._signature(os.stat(repo / "rendered" / signed))
        lines = [f"{json.dumps(signed)} {signature}\n" if line.startswith(f'"{signed}" ') else line for line in lines]
    _cache(repo).write_text(json.dumps(head, separators=(",", ":")) + "\n" + "".join(lines))


def _output_read(monkeypatch: pytest.MonkeyPatch, repo: Path) -> list[str]:
    """The output files (the record aside) the fast path reads from now on."""
    read: list[str] = []
    real = record._read

    def reading(path: str) -> bytes:
        rel = os.path.relpath(path, os.path.realpath(repo / "rendered"))
        if not rel.startswith("..") and rel != record.RECORD:
            read.append(rel)
        return real(path)

    monkeypatch.setattr(record, "_read", reading)
    return read


def test_a_file_changed_within_the_tick_that_stamped_it_is_read(repo: Path) -> None:
    """A file rewritten in place with as many bytes, within one tick of the clock that stamps it
    (kernels before 6.13 stamp from a clock of 4 ms ticks; FAT keeps mtime to 2 s), keeps its inode,
    size, mtime and ctime. This kernel cannot be made to stamp two writes alike, so the cache is given
    the edited file's signature, which such a stat gives. The file was stamped after the signatures
    were taken, so it is read, and the change found. Before, check said "up to date" and render
    "wrote" for the edited output."""
    some = repo / "rendered" / "a" / "kustomization.yaml"
    data = some.read_bytes()
    with some.open("r+b") as file:
        file.write(data.replace(b"a", b"A", 1))
    _rewrite_cache(repo, signed="a/kustomization.yaml")
    assert fast(*CHECK) is None
    assert fast(*RENDER) is None
    assert run_cli(*RENDER).exit_code == 1
    assert some.read_bytes() == data


def test_a_render_waits_out_the_tick_of_what_it_wrote_so_the_next_run_reads_none(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The render saved signatures that hold: the next runs read no output file. A file stamped
    since (its signature saved as it is now) is read, and its signature saved again (check saves
    them as render does); a run a tick later reads nothing again."""
    read = _output_read(monkeypatch, repo)
    assert fast(*CHECK) is not None
    assert fast(*RENDER) is not None
    assert read == []
    os.utime(repo / "rendered" / "b" / "kustomization.yaml")
    _rewrite_cache(repo, signed="b/kustomization.yaml")
    assert fast(*CHECK) is not None
    assert read == ["b/kustomization.yaml"]
    _rewrite_cache(repo, later=record.STAMP_LAG_NS + 1)
    assert fast(*CHECK) is not None
    assert read == ["b/kustomization.yaml"]


def test_a_file_changed_before_the_render_takes_its_signature_is_not_vouched_for(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process changes a file the render just wrote (a watcher that formats what appears)
    before the render takes the signatures: each file is hashed after its stat, so none is saved
    for output that is not the record's. Before, check said "up to date" for it for good."""
    some = repo / "rendered" / "a" / "kustomization.yaml"
    remember = record.remember_written

    def edited_first(directory: str, code: str, record_digest: str) -> None:
        some.write_text(some.read_text().replace("a", "A", 1))
        remember(directory, code, record_digest)

    monkeypatch.setattr(record, "remember_written", edited_first)
    (repo / "a.pgcluster.yaml").write_text(spec("a").replace("727Mi", "2Gi"))
    assert run_cli(*RENDER).exit_code == 1
    monkeypatch.setattr(record, "remember_written", remember)
    assert fast(*CHECK) is None
    assert run_cli(*CHECK).exit_code == 1


def test_a_file_stamped_in_the_future_is_read_again_and_no_other(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file stamped an hour ahead cannot settle in the render's wait: it is read by each run, and
    the render still waits for the others. Before, it cancelled the wait, and the next run read all."""
    future = repo / "rendered" / "b" / "kustomization.yaml"
    hour = time.time_ns() + 3600 * 10**9
    os.utime(future, ns=(hour, hour))
    (repo / "a.pgcluster.yaml").write_text(spec("a").replace("727Mi", "2Gi"))
    assert run_cli(*RENDER).exit_code == 1
    read = _output_read(monkeypatch, repo)
    assert fast(*CHECK) is not None
    assert fast(*CHECK) is not None
    assert read == ["b/kustomization.yaml", "b/kustomization.yaml"]


@pytest.mark.parametrize(
    ("stamp", "grain"),
    [
        (1_700_000_000_123_456_789, 1),  # ext4, xfs, btrfs, tmpfs
        (1_700_000_000_123_456_700, 100),  # NTFS
        (1_700_000_000_120_000_000, 10_000_000),  # exFAT
        (1_700_000_001_000_000_000, 2_000_000_000),  # ext3, HFS+: 1 s, read as FAT's 2 s
        (1_700_000_000_000_000_000, 2_000_000_000),  # FAT
    ],
)
def test_the_grain_of_a_file_time_is_read_from_its_digits(stamp: int, grain: int) -> None:
    assert record._grain(stamp) == grain


def test_the_stat_caches_of_directories_written_longest_ago_are_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    caches = tmp_path / "cache" / "pgrender"
    caches.mkdir(parents=True)
    # Caches of directories long gone, a crashed writer's temporary, an earlier form's; oldest first,
    # and not in the order of their names.
    by_age = [f"{i:032x}.cache" for i in range(record.CACHES_KEPT + 3, 0, -1)] + ["b.cache.4242", "c.json"]
    for age, name in enumerate(by_age):
        (caches / name).write_text("{}\n")
        os.utime(caches / name, ns=(age * 10**9, age * 10**9))
    out = str(tmp_path / "out")
    writer = record._CacheWriter(out, "record", "code", 0)
    writer.add("a.yaml", "1 2 3 4")
    writer.commit()
    written = Path(record._cache_file(out)).name
    assert {p.name for p in caches.iterdir()} == {written, *by_age[-(record.CACHES_KEPT - 1) :]}


# What sends a run to the full path, and what the full path then makes ------------------------------------


Change = Callable[[Path, pytest.MonkeyPatch], object]  # returns a tuple of extra command-line arguments, or else


def _append(name: str, text: str) -> Change:
    return lambda repo, mp: (repo / name).write_text((repo / name).read_text() + text)


def _another_key(repo: Path, mp: pytest.MonkeyPatch) -> None:
    (repo / "root.key").write_text(keys.generate() + "\n")


def _key_file_option(repo: Path, mp: pytest.MonkeyPatch) -> tuple[str, ...]:
    """Another key file, holding another key (the same key from another file changes nothing)."""
    shutil.copy2(repo / "root.key", repo / "other.key")  # with its mode: others may not read it
    (repo / "other.key").write_text(keys.generate() + "\n")
    return ("--key-file", "other.key")


def _sealing_certificate(repo: Path, mp: pytest.MonkeyPatch) -> tuple[str, ...]:
    """A certificate named (derived ignores it, sealed would seal for it), then its bytes changed."""
    shutil.copyfile(CERTIFICATE, repo / "seal.pem")
    args = ("--sealing-certificate", "seal.pem")
    assert run_cli(*RENDER, *args).exit_code == 1  # the record names the certificate
    assert fast(*RENDER, *args) is not None
    _append("seal.pem", "a comment outside the PEM block\n")(repo, mp)
    return args


def _sealing_certificate_at_home(repo: Path, mp: pytest.MonkeyPatch) -> tuple[str, ...]:
    """`--sealing-certificate=~/seal.pem`, which no shell expands (nor pre-commit's args): the
    provider reads ~/seal.pem, so that file's bytes are what the record names."""
    mp.setenv("HOME", str(repo / "home"))
    (repo / "home").mkdir()
    shutil.copyfile(CERTIFICATE, repo / "home" / "seal.pem")
    args = ("--sealing-certificate=~/seal.pem",)
    assert run_cli(*RENDER, *args).exit_code == 1  # the record names the certificate
    assert fast(*RENDER, *args) is not None
    _append("home/seal.pem", "a comment outside the PEM block\n")(repo, mp)
    return args


def _key_file_at_another_home(repo: Path, mp: pytest.MonkeyPatch) -> None:
    """secrets.keyFile: ~/root.key in pgrender.yaml, and another user (HOME) with another key."""
    for user in ("alice", "bob"):
        (repo / user).mkdir()
        shutil.copy2(repo / "root.key", repo / user / "root.key")
    (repo / "bob" / "root.key").write_text(keys.generate() + "\n")
    (repo / "pgrender.yaml").write_text(CONFIG.replace("keyFile: root.key", "keyFile: ~/root.key"))
    mp.setenv("HOME", str(repo / "alice"))
    assert run_cli(*RENDER).exit_code == 1  # the same key: the record alone changes
    assert fast(*RENDER) is not None
    mp.setenv("HOME", str(repo / "bob"))


def _record_edited(change: Callable[[bytes], bytes]) -> Change:
    def edit(repo: Path, mp: pytest.MonkeyPatch) -> None:
        path = repo / "rendered" / record.RECORD
        path.write_bytes(change(path.read_bytes()))

    return edit


def _resealed(body: object) -> bytes:
    """A record of ``body`` whose checksum holds."""
    text = json.dumps(body, indent=0, sort_keys=True)
    return f"{record.SCHEMA} {record._sha(text.encode())}\n{text}\n".encode()


def _digest_tampered(resealed: bool) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        body = json.loads(data.partition(b"\n")[2])
        digest = body["files"]["a/kustomization.yaml"][0]
        if not resealed:
            return data.replace(digest.encode(), b"0" * 64)
        body["files"]["a/kustomization.yaml"][0] = "0" * 64
        return _resealed(body)

    return change


def _record_of_another_repository(repo: Path, mp: pytest.MonkeyPatch) -> None:
    other = repo.parent / "other"
    make_repository(other)
    (other / "b.pgcluster.yaml").write_text(spec("c"))
    mp.chdir(other)
    assert run_cli(*RENDER).exit_code == 1
    mp.chdir(repo)
    shutil.copyfile(other / "rendered" / record.RECORD, repo / "rendered" / record.RECORD)


def _record_of_another_directory(repo: Path, mp: pytest.MonkeyPatch) -> None:
    assert run_cli("render", "-o", "elsewhere").exit_code == 0
    shutil.copyfile(repo / "elsewhere" / record.RECORD, repo / "rendered" / record.RECORD)
    shutil.rmtree(repo / "elsewhere")


def _edited_keeping_size_and_mtime(repo: Path, mp: pytest.MonkeyPatch) -> None:
    path = repo / "rendered" / "a" / "kustomization.yaml"
    before = path.stat()
    path.write_bytes(path.read_bytes().replace(b"resources", b"Resources"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def _record_a_symlink(repo: Path, mp: pytest.MonkeyPatch) -> None:
    """The record moved out of the output and linked back: the same bytes, not as write leaves them."""
    (repo / "rendered" / record.RECORD).rename(repo / "record")
    (repo / "rendered" / record.RECORD).symlink_to(repo / "record")


RENDERS, REFUSES, ALWAYS = "renders", "refuses", "always"
# id, what changes, and what the full path then does: RENDERS (and the record it writes answers the next run),
# REFUSES (exit 2) where a clean render would not, or ALWAYS (renders, and the next run is the full path's too)
CHANGES: list[tuple[str, Change, str]] = [
    ("spec-byte", _append("b.pgcluster.yaml", "# one more byte\n"), RENDERS),
    ("spec-changed", lambda r, mp: (r / "b.pgcluster.yaml").write_text(spec("b").replace("727Mi", "2Gi")), RENDERS),
    ("spec-added", lambda r, mp: (r / "c.pgcluster.yaml").write_text(spec("c")), RENDERS),
    ("spec-removed", lambda r, mp: (r / "b.pgcluster.yaml").unlink(), RENDERS),
    ("spec-moved", lambda r, mp: (r / "b.pgcluster.yaml").rename(r / "c.pgcluster.yaml"), RENDERS),
    ("config", _append("pgrender.yaml", "namespace: other\n"), RENDERS),
    ("root-key", _another_key, RENDERS),
    ("PGRENDER_KEY-another-key", lambda r, mp: mp.setenv("PGRENDER_KEY", keys.generate()), RENDERS),
    ("PGRENDER_ALLOW_TEST_KEY", lambda r, mp: mp.delenv("PGRENDER_ALLOW_TEST_KEY"), RENDERS),
    ("PGRENDER_KEY-blank", lambda r, mp: mp.setenv("PGRENDER_KEY", "   "), RENDERS),  # keys.load refuses it
    ("PGRENDER_TRUSTED_SOURCES", lambda r, mp: mp.setenv("PGRENDER_TRUSTED_SOURCES", "prod/*"), RENDERS),
    ("key-file-option", _key_file_option, RENDERS),
    ("key-file-readable-by-others", lambda r, mp: (r / "root.key").chmod(0o644), ALWAYS),  # the full path warns
    ("provider-option", lambda r, mp: ("--secrets-provider", "existing"), RENDERS),
    ("namespace-option", lambda r, mp: ("--namespace", "other"), RENDERS),
    ("sealing-certificate", _sealing_certificate, RENDERS),
    ("sealing-certificate-at-home", _sealing_certificate_at_home, RENDERS),
    ("key-file-at-another-home", _key_file_at_another_home, RENDERS),
    ("pgrender-version", lambda r, mp: mp.setattr(record, "__version__", "99.0.0"), RENDERS),
    ("code", lambda r, mp: mp.setattr(record, "code_fingerprint", lambda: "another build"), RENDERS),
    ("record-missing", lambda r, mp: (r / "rendered" / record.RECORD).unlink(), RENDERS),
    ("record-garbage", _record_edited(lambda data: b"\x00\xffnot a record\n"), RENDERS),
    ("record-truncated", _record_edited(lambda data: data[: len(data) // 2]), RENDERS),
    ("record-another-schema", _record_edited(lambda data: data.replace(b"record/1", b"record/0", 1)), RENDERS),
    ("record-digest-tampered", _record_edited(_digest_tampered(resealed=False)), RENDERS),
    ("record-digest-tampered-resealed", _record_edited(_digest_tampered(resealed=True)), RENDERS),
    ("record-body-not-a-record", _record_edited(lambda data: _resealed({"files": 1})), RENDERS),
    ("record-of-another-repository", _record_of_another_repository, RENDERS),
    ("record-of-another-directory", _record_of_another_directory, RENDERS),
    ("output-edited", _append("rendered/a/kustomization.yaml", "# edited\n"), RENDERS),
    ("output-edited-same-size-and-mtime", _edited_keeping_size_and_mtime, RENDERS),
    ("output-removed", lambda r, mp: (r / "rendered" / "b" / "configmap-b-config.yaml").unlink(), RENDERS),
    ("output-mode", lambda r, mp: (r / "rendered" / "a" / "kustomization.yaml").chmod(0o666), RENDERS),
    ("output-directory-mode", lambda r, mp: (r / "rendered" / "a").chmod(0o755), RENDERS),
    ("record-mode", lambda r, mp: (r / "rendered" / record.RECORD).chmod(0o600), RENDERS),
    ("record-a-symlink", _record_a_symlink, RENDERS),
    ("output-file-added", lambda r, mp: (r / "rendered" / "notes.txt").write_text("mine\n"), REFUSES),
]


# The clusters the full path then takes as they are from the output (reuse.py): only where no input but
# specs changed, the clusters whose document did not. Removing b leaves a flat base, which a's files make.
# Where the output changed, the clusters whose files are all as the record has them (bytes and mode).
REUSED = {
    "spec-byte": ["a", "b"],
    "spec-changed": ["a"],
    "spec-added": ["a", "b"],
    "spec-removed": ["a"],
    "spec-moved": ["a", "b"],
    "record-mode": ["a", "b"],  # its bytes are the record's: reuse reads them; the write puts its mode back
    "output-edited": ["b"],
    "output-edited-same-size-and-mtime": ["b"],  # each file reused is read and hashed, whatever its stat
    "output-removed": ["a"],
    "output-mode": ["b"],
    "output-directory-mode": ["a", "b"],  # the write makes every directory anew, of its mode
    "output-file-added": ["a", "b"],  # then refused: the write's, as a clean render's
}


# The render after the check: the check found the output current and its record the one these inputs
# make, and saved this build's stat signatures (commands._remember_checked), which reuse needs.
REUSED_AFTER_CHECK = {"code": ["a", "b"]}


def reused_clusters(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the clusters a render takes from its output, as it takes them."""
    names: list[str] = []
    original = render.Finisher.reused

    def noted(finisher: render.Finisher, plan: ClusterPlan) -> render.ClusterOutput | None:
        found = original(finisher, plan)
        if found is not None:
            names.append(plan.name)
        return found

    monkeypatch.setattr(render.Finisher, "reused", noted)
    return names


# The changes whose clusters `pgrender diff` takes from the output, or not, told apart: a spec's,
# the output's own, the record's, and the inputs every cluster shares.
DIFFED = ("spec-byte", "spec-changed", "spec-added", "spec-removed", "output-edited", "output-removed",
          "record-missing", "code", "provider-option", "namespace-option")  # fmt: skip


@pytest.mark.parametrize(
    ("name", "change"), [(n, c) for n, c, _ in CHANGES if n in DIFFED], ids=[n for n, _, _ in CHANGES if n in DIFFED]
)
def test_diff_takes_unchanged_clusters_from_the_output_and_finds_what_a_full_render_finds(
    repo: Path, monkeypatch: pytest.MonkeyPatch, name: str, change: Change
) -> None:
    """`pgrender diff` of the specs renders, as check does, only the clusters the output does not
    hold current; what it reports is what it reports with nothing reused (no stat cache)."""
    returned = change(repo, monkeypatch)
    args: tuple[str, ...] = returned if isinstance(returned, tuple) else ()
    reused = reused_clusters(monkeypatch)
    diffed = run_cli("diff", *args)
    assert reused == REUSED.get(name, [])
    reused.clear()
    monkeypatch.setenv("XDG_CACHE_HOME", str(repo.parent / "no-cache"))
    rendered = run_cli("diff", *args)
    assert reused == []
    assert (diffed.exit_code, diffed.stdout, diffed.stderr) == (rendered.exit_code, rendered.stdout, rendered.stderr)


@pytest.mark.parametrize(("name", "change", "outcome"), CHANGES, ids=[c[0] for c in CHANGES])
def test_a_change_is_detected_and_the_full_path_makes_a_clean_renders_output(
    repo: Path, monkeypatch: pytest.MonkeyPatch, name: str, change: Change, outcome: str
) -> None:
    returned = change(repo, monkeypatch)
    args: tuple[str, ...] = returned if isinstance(returned, tuple) else ()
    assert fast(*RENDER, *args) is None
    assert fast(*CHECK, *args) is None
    clean_status, clean = clean_render(repo, args)
    stale = without_record(tree(repo / "rendered")) != without_record(clean)
    reused = reused_clusters(monkeypatch)
    checked = run_cli(*CHECK, *args)
    assert reused == REUSED.get(name, [])
    reused.clear()
    record_before = _entry(repo / "rendered" / record.RECORD)
    rendered = run_cli(*RENDER, *args)
    assert reused == REUSED_AFTER_CHECK.get(name, REUSED.get(name, []))
    if clean_status == 2:  # the inputs are refused (the test key, no longer allowed): by every path
        assert (checked.exit_code, rendered.exit_code) == (2, 2)
        return
    # check compares for real: stale exactly when the output differs from a clean render's
    assert checked.exit_code == int(stale), checked.stderr
    if outcome == REFUSES:  # files pgrender did not write: render refuses them, check reports them
        assert rendered.exit_code == 2 and "did not write" in rendered.stderr
        return
    # --exit-code: 1 when the output changed, or its record alone (a file committed with it)
    record_changed = _entry(repo / "rendered" / record.RECORD) != record_before
    assert rendered.exit_code == int(stale or record_changed), rendered.stderr
    assert tree(repo / "rendered") == clean
    answered = fast(*RENDER, *args) is not None and fast(*CHECK, *args) is not None
    assert answered is (outcome == RENDERS)  # the new record answers the next run


@pytest.mark.parametrize("by", ["another-render", "an-edit-in-place"])
@pytest.mark.parametrize("command", [RENDER, CHECK], ids=["render", "check"])
def test_files_changed_after_they_were_taken_are_read_from_the_output(
    repo: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...], by: str
) -> None:
    """Between this run's taking of a's files and its guard (or check's comparison), a's volume grows
    to 2Gi in the output: another render writes it, or a person edits the claim's file in place (as
    many bytes, the same inode). What this run then compares with is that: render and check refuse to
    shrink the volume back. (A version that compared with the texts reuse had read wrote the shrink,
    and check called the output stale or current.)"""
    (repo / "b.pgcluster.yaml").write_text(spec("b").replace("727Mi", "2Gi"))  # b is rendered, a taken
    other = repo.parent / "other"
    shutil.copytree(repo, other, ignore=shutil.ignore_patterns("rendered"))
    (other / "a.pgcluster.yaml").write_text(spec("a").replace("size: 1Gi", "size: 2Gi"))
    output = str(repo / "rendered")
    claim = repo / "rendered" / "a" / "persistentvolumeclaim-a-instance1-0-pgdata.yaml"
    original = commands._read_output

    def changed_first(*args: Any) -> Any:
        monkeypatch.setattr(commands, "_read_output", original)  # for the other render's own guard
        if by == "another-render":
            monkeypatch.chdir(other)
            assert run_cli("render", "-o", output).exit_code == 0
            monkeypatch.chdir(repo)
        else:
            with open(claim, "r+") as file:
                grown = file.read().replace("storage: 1Gi", "storage: 2Gi")
                file.seek(0)
                file.write(grown)
        return original(*args)

    monkeypatch.setattr(commands, "_read_output", changed_first)
    taken = reused_clusters(monkeypatch)
    result = run_cli(*command)
    assert taken == ["a"]
    assert result.exit_code == 2 and "a claim cannot shrink" in result.stderr, result.stderr
    assert "storage: 2Gi" in claim.read_text()


def _entry(path: Path) -> tuple[int, bytes | None] | None:
    """What git sees of ``path``: its type and permission bits, and a regular file's bytes."""
    if not os.path.lexists(path):
        return None
    st = path.lstat()
    return st.st_mode, path.read_bytes() if path.is_file() and not path.is_symlink() else None


# Inputs read by the render and also digested for the record: the record names what was read.
ROLES = CONFIG + "infrastructureRoles:\n  - name: monitor\n    inRoles: [pg_monitor]\n"


def once_inputs_are_taken(monkeypatch: pytest.MonkeyPatch, before: Change | None, after: Change | None) -> None:
    """Run ``before`` and ``after`` around the next time a render takes the inputs it records
    (record.Inputs.of), once."""
    taken = record.Inputs.of
    pending = [True]

    def of(cls: type[record.Inputs], **inputs: Any) -> record.Inputs:
        first = pending.pop() if pending else False
        if first and before:
            before(Path.cwd(), monkeypatch)
        made = taken(**inputs)
        if first and after:
            after(Path.cwd(), monkeypatch)
        return made

    monkeypatch.setattr(record.Inputs, "of", classmethod(of))


def test_a_config_changed_during_a_render_is_recorded_as_it_was_read(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pgrender.yaml changed once the render had read it and before the record was made: the output
    is the old config's, so the record must name that one and the next run must see the change (a
    local check that passes where CI's fresh clone fails otherwise)."""
    once_inputs_are_taken(monkeypatch, lambda repo, mp: (repo / "pgrender.yaml").write_text(ROLES), None)
    (repo / "a.pgcluster.yaml").write_text(spec("a").replace("727Mi", "2Gi"))  # a run to render
    assert run_cli(*RENDER).exit_code == 1
    assert (repo / "pgrender.yaml").read_text() == ROLES
    assert fast(*CHECK) is None
    _, clean = clean_render(repo, ())
    assert run_cli(*CHECK).exit_code == 1
    assert run_cli(*RENDER).exit_code == 1
    assert tree(repo / "rendered") == clean


def test_a_key_changed_during_a_render_and_back_is_not_the_one_recorded(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """root.key replaced while the render runs and put back after: the record names the key the
    output was made with, so the files are the kept key's (or the next run would see them stale)."""
    kept = (repo / "root.key").read_text()
    once_inputs_are_taken(monkeypatch, None, lambda repo, mp: (repo / "root.key").write_text(keys.generate() + "\n"))
    (repo / "a.pgcluster.yaml").write_text(spec("a").replace("727Mi", "2Gi"))
    assert run_cli(*RENDER).exit_code == 1
    assert (repo / "root.key").read_text() != kept
    (repo / "root.key").write_text(kept)
    _, clean = clean_render(repo, ())
    assert tree(repo / "rendered") == clean


def test_a_sealing_certificate_changed_during_a_render_and_back_is_the_one_sealed_for(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """seal.pem replaced by another controller's once the render took its inputs, and put back
    after: the render seals for the certificate the record names (read once, as the root key is), so
    every SealedSecret opens with that controller's key. Before, the provider read the file again
    and sealed for the other controller, while the record named the first certificate: the next run
    answered "up to date" for Secrets no controller of the cluster could open."""
    from tests.test_sealed import controller_key, other_certificate, unseal

    shutil.copyfile(CERTIFICATE, repo / "seal.pem")
    args = ("--secrets-provider", "sealed", "--sealing-certificate", "seal.pem")
    other = other_certificate(repo.parent).read_bytes()
    once_inputs_are_taken(monkeypatch, None, lambda repo, mp: (repo / "seal.pem").write_bytes(other))
    assert run_cli(*RENDER, *args).exit_code == 1
    shutil.copyfile(CERTIFICATE, repo / "seal.pem")
    sealed = [
        document
        for path in sorted((repo / "rendered").rglob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document and document.get("kind") == "SealedSecret"
    ]
    assert sealed
    for document in sealed:
        assert unseal(controller_key(), document)["data"]
    assert fast(*CHECK, *args) is not None


def test_a_sealing_certificate_is_read_for_provider_sealed_alone(repo: Path) -> None:
    """Another provider ignores the certificate, which may be anything: a FIFO (whose open waits
    for a writer: the render hung), or a file larger than a certificate (the record digested its
    first 64 KiB and the no-op path the whole file: no run was ever answered)."""
    os.mkfifo(repo / "seal.pem")
    command = [sys.executable, "-m", "pgrender", "render", "--write", "--sealing-certificate", "seal.pem"]
    done = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    os.unlink(repo / "seal.pem")
    (repo / "seal.pem").write_bytes(CERTIFICATE.read_bytes() + b"#" * 70_000)
    assert run_cli(*RENDER, "--sealing-certificate", "seal.pem").exit_code == 1  # a record again: none named the FIFO
    assert fast(*RENDER, "--sealing-certificate", "seal.pem") is not None


@pytest.mark.parametrize(
    ("first", "line"),
    [(True, '{"record": "x",\n'), (False, '{"x": 1,\n'), (True, "[" * 3000 + "\n"), (False, "[" * 3000 + " x\n")],
)
def test_a_stat_cache_that_is_not_json_sends_the_run_to_the_full_path(repo: Path, first: bool, line: str) -> None:
    """Its first line or another not JSON, in a process that has not imported json (the no-op
    path's): json's C scanner then raised SystemError, not ValueError, and the run ended in a
    traceback; or nested deeper than the interpreter allows (RecursionError)."""
    header, *lines = _cache(repo).read_text().splitlines(keepends=True)
    _cache(repo).write_text(line if first else header + line + "".join(lines))
    command = [sys.executable, "-m", "pgrender", *CHECK]
    done = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stderr.endswith("\nrendered: up to date\n"), done.stderr
    assert "Traceback" not in done.stderr


def test_a_spec_changed_while_the_render_reads_it_and_back_is_recorded_as_read(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spec edited just as the render reads it, and put back: the output is the edit's, so the
    record names the edit, and the next run renders the spec as it is."""
    spec_file, kept = repo / "a.pgcluster.yaml", (repo / "a.pgcluster.yaml").read_text()
    read = load._read

    def edited_while_read(path: str | Path, problems: list[Problem]) -> bytes | None:
        if Path(path).name != spec_file.name:
            return read(path, problems)
        spec_file.write_text(kept.replace("727Mi", "2Gi"))
        try:
            return read(path, problems)
        finally:
            spec_file.write_text(kept)

    monkeypatch.setattr(load, "_read", edited_while_read)
    assert run_cli(*RENDER).exit_code == 1
    monkeypatch.setattr(load, "_read", read)
    assert fast(*CHECK) is None
    _, clean = clean_render(repo, ())
    assert run_cli(*RENDER).exit_code == 1
    assert tree(repo / "rendered") == clean


def test_an_empty_output_option_is_the_full_paths_to_refuse(repo: Path) -> None:
    """`-o ""` is no -o for the full path (a usage error without --write): not answered."""
    assert fast("render", "-o", "", "--exit-code") is None
    assert run_cli("render", "-o", "", "--exit-code").exit_code == 2
    assert fast("render", "-o", "", "--write", "--exit-code") is not None  # --write's, as the full path reads it


def _linked_to_its_copy(path: Path) -> None:
    shutil.copyfile(path, path.parent.parent / "record-copy")
    path.unlink()
    path.symlink_to(path.parent.parent / "record-copy")


def _replaced_by(make: Callable[[Path], object]) -> Callable[[Path], None]:
    def replace(path: Path) -> None:
        path.unlink()
        make(path)

    return replace


# What may stand where the record is: `render --exit-code` reads none of it that could block or never
# end, replaces it with the record as write leaves it, and counts that as the change it is to git.
RECORD_ENTRIES = [
    ("fifo", _replaced_by(os.mkfifo)),
    ("link-to-a-device", _replaced_by(lambda p: p.symlink_to("/dev/zero"))),
    ("link-to-the-same-bytes", _linked_to_its_copy),
    ("directory", _replaced_by(lambda p: p.mkdir())),
    ("executable", lambda p: p.chmod(0o755)),
]


@pytest.mark.parametrize("make", [m for _, m in RECORD_ENTRIES], ids=[n for n, _ in RECORD_ENTRIES])
def test_what_stands_for_the_record_is_replaced_and_counted(repo: Path, make: Callable[[Path], None]) -> None:
    make(repo / "rendered" / record.RECORD)
    command = [sys.executable, "-m", "pgrender", *RENDER]
    done = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stderr
    assert "the output's record changed, no other file: `git add rendered`" in done.stderr
    assert record.written_digest(str(repo / "rendered" / record.RECORD))
    assert run_cli(*RENDER).exit_code == 0 and fast(*RENDER) is not None


def test_the_test_key_flag_is_recorded_for_the_test_key_alone(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PGRENDER_ALLOW_TEST_KEY changes what keys.load accepts only for the test key (and the
    all-zero key): with another key, a shell that sets it leaves the record as it is."""
    assert run_cli(*RENDER).exit_code == 0
    monkeypatch.delenv("PGRENDER_ALLOW_TEST_KEY")
    assert run_cli(*RENDER).exit_code == 2  # the test key, refused
    monkeypatch.setenv("PGRENDER_ALLOW_TEST_KEY", "1")
    _another_key(repo, monkeypatch)
    assert run_cli(*RENDER).exit_code == 1  # another key: other output
    monkeypatch.delenv("PGRENDER_ALLOW_TEST_KEY")
    assert run_cli(*RENDER).exit_code == 0 and fast(*RENDER) is not None
    environ = {"PGRENDER_ALLOW_TEST_KEY": "1"}
    real, test = "ab" * 32, GOLDEN_KEY.read_text().strip()
    assert record.key_fingerprint(None, {"PGRENDER_KEY": real, **environ}) == record.key_fingerprint(
        None, {"PGRENDER_KEY": real}
    )
    for weak in (test, "00" * 32):
        assert record.key_fingerprint(None, {"PGRENDER_KEY": weak, **environ}) != record.key_fingerprint(
            None, {"PGRENDER_KEY": weak}
        )


def _stamps(repo: Path) -> dict[str, tuple[int, int, int]]:
    files = (p for p in (repo / "rendered").rglob("*") if p.is_file())
    return {str(p.relative_to(repo)): (p.stat().st_ino, p.stat().st_mtime_ns, p.stat().st_ctime_ns) for p in files}


def test_a_file_edited_by_hand_is_put_back_alone(repo: Path) -> None:
    """An output file edited by hand, nothing else changed: the record is the same, so the one
    file differs, and it alone is renamed into place; the others keep even their ctimes."""
    edited = "rendered/a/kustomization.yaml"
    (repo / edited).write_text((repo / edited).read_text() + "# edited\n")
    before = _stamps(repo)
    rendered = run_cli(*RENDER)
    assert rendered.exit_code == 1, rendered.stderr
    after = _stamps(repo)
    assert after.pop(edited)[0] != before.pop(edited)[0]
    assert after == before
    _, clean = clean_render(repo, ())
    assert tree(repo / "rendered") == clean


@pytest.mark.parametrize("names", [("a", "b"), ("a",)], ids=["directories", "flat-base"])
def test_a_record_written_over_while_reused_renders_the_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, names: tuple[str, ...]
) -> None:
    """Another output copied over this one in place (`cp -r`: the same inodes, the record too)
    after reuse read the record: a cluster's part of the record, read then, is another record's,
    and so are the files copied with it. Reuse sees the record written over, and renders."""
    make_repository(tmp_path / "repo")
    repo = tmp_path / "repo"
    monkeypatch.chdir(repo)
    monkeypatch.setenv("PGRENDER_ALLOW_TEST_KEY", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    if names == ("a",):
        (repo / "b.pgcluster.yaml").unlink()
    run_cli(*RENDER)
    shutil.copytree(repo / "rendered", tmp_path / "other")
    for name in names:  # what the output now holds is no longer what the specs make
        (repo / f"{name}.pgcluster.yaml").write_text(spec(name).replace("size: 1Gi", "size: 2Gi"))
    assert run_cli(*RENDER).exit_code == 1
    (repo / "a.pgcluster.yaml").write_text((repo / "a.pgcluster.yaml").read_text() + "# a comment\n")
    found = reuse.found

    def written_over(*args: Any) -> reuse.Reuse | None:
        taken = found(*args)
        subprocess.run(["cp", "-r", f"{tmp_path / 'other'}/.", "rendered/"], check=True)
        return taken

    monkeypatch.setattr(reuse, "found", written_over)
    run_cli(*RENDER)
    monkeypatch.setattr(reuse, "found", found)
    _, clean = clean_render(repo, ())
    assert tree(repo / "rendered") == clean


def test_a_comment_changed_replaces_the_record_alone(repo: Path) -> None:
    """Every cluster reused, the output the same but its record: that one file is renamed into
    place (write._replace_one), and no other file is linked, so each keeps even its ctime."""

    def stamps() -> dict[str, tuple[int, int, int]]:
        files = (p for p in (repo / "rendered").rglob("*") if p.is_file())
        return {str(p.relative_to(repo)): (p.stat().st_ino, p.stat().st_mtime_ns, p.stat().st_ctime_ns) for p in files}

    before = stamps()
    spec_file = repo / "b.pgcluster.yaml"
    spec_file.write_text(spec_file.read_text() + "# a comment\n")
    rendered = run_cli(*RENDER)  # the record changed, a file to commit with the output:
    assert rendered.exit_code == 1
    assert "the output's record changed, no other file: `git add rendered`" in rendered.stderr
    after = stamps()
    assert after.pop(f"rendered/{record.RECORD}")[0] != before.pop(f"rendered/{record.RECORD}")[0]
    assert after == before
    assert fast(*RENDER) is not None  # the new record answers the next run
    _, clean = clean_render(repo, ())
    assert tree(repo / "rendered") == clean


def test_a_cluster_changed_stages_the_tree_without_looking_for_one_file(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A changed cluster's files and the record differ: the write builds the new tree at once
    (commands._differing_files), without reading the output's files for the one that differs
    (write._differing); the files that did not change are linked, keeping their inodes. A larger
    volume: the same file names, and the claims' files of the same size."""
    looked: list[str] = []
    differing = write._differing
    monkeypatch.setattr(write, "_differing", lambda *args: looked.append("looked") or differing(*args))
    inodes = {p.name: p.stat().st_ino for p in (repo / "rendered" / "a").iterdir()}
    spec_file = repo / "b.pgcluster.yaml"
    spec_file.write_text(spec_file.read_text().replace("size: 1Gi", "size: 2Gi"))
    assert run_cli(*RENDER).exit_code == 1
    assert looked == []
    assert {p.name: p.stat().st_ino for p in (repo / "rendered" / "a").iterdir()} == inodes
    _, clean = clean_render(repo, ())
    assert tree(repo / "rendered") == clean
    spec_file.write_text(spec_file.read_text() + "# a comment\n")
    assert run_cli(*RENDER).exit_code == 1  # the record alone: looked for, and renamed into place
    assert looked == ["looked"]


def test_a_flat_base_is_reused_into_a_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One cluster's files are the output's flat base; with a second, they move into its directory."""
    make_repository(tmp_path / "repo")
    monkeypatch.chdir(tmp_path / "repo")
    monkeypatch.setenv("PGRENDER_ALLOW_TEST_KEY", "1")
    (tmp_path / "repo" / "b.pgcluster.yaml").unlink()
    assert run_cli(*RENDER).exit_code == 1
    (tmp_path / "repo" / "b.pgcluster.yaml").write_text(spec("b"))
    _, clean = clean_render(tmp_path / "repo", ())
    reused = reused_clusters(monkeypatch)
    assert run_cli(*RENDER).exit_code == 1
    assert reused == ["a"]
    assert tree(tmp_path / "repo" / "rendered") == clean


def test_workers_reuse_as_one_process_does(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch finished in worker processes (pgrender.fleet) takes the same clusters from the output."""
    monkeypatch.setattr(tuning, "PROCESSES_FROM", 1)
    monkeypatch.setattr(tuning, "cpus", lambda: 4)
    (repo / "b.pgcluster.yaml").write_text(spec("b").replace("727Mi", "2Gi"))
    (repo / "c.pgcluster.yaml").write_text(spec("c"))
    _, clean = clean_render(repo, ())
    reused = reused_clusters(monkeypatch)
    assert run_cli(*RENDER).exit_code == 1
    assert reused == ["a"]
    assert tree(repo / "rendered") == clean


def test_a_file_changed_once_the_output_is_proven_is_rendered(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each reused file is read again and checked against the record as its cluster is taken."""
    _, clean = clean_render(repo, ())
    proven = reuse.found

    def proven_then_edited(target: str, shared: str, code: str) -> reuse.Reuse | None:
        found = proven(target, shared, code)
        assert found is not None
        edited = repo / "rendered" / "b" / "kustomization.yaml"
        edited.write_text(edited.read_text() + "# edited meanwhile\n")
        return found

    monkeypatch.setattr(reuse, "found", proven_then_edited)
    reused = reused_clusters(monkeypatch)
    assert run_cli(*RENDER).exit_code == 1  # the edit undone: the output changed
    assert reused == ["a"]
    assert tree(repo / "rendered") == clean


def test_provider_sealed_reuses_nothing(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It keeps the ciphertexts of unchanged values from the output it replaces: it renders every cluster."""
    shutil.copyfile(CERTIFICATE, repo / "seal.pem")
    args = ("--secrets-provider", "sealed", "--sealing-certificate", "seal.pem")
    assert run_cli(*RENDER, *args).exit_code == 1
    _append("b.pgcluster.yaml", "# one more byte\n")(repo, monkeypatch)
    reused = reused_clusters(monkeypatch)
    assert run_cli(*RENDER, *args).exit_code == 1  # the record names the spec's bytes
    assert reused == []


# (data, the same data spelled otherwise or None, data that differs): plans.spec_digest tells types apart
# and is the same wherever the data came from.
SPEC_DIGESTS = [
    ({"a": 1}, {"a": 1}, {"a": "1"}),
    ({"a": True}, None, {"a": 1}),
    ({"a": 1.0}, None, {"a": 1}),
    ({1: "x"}, None, {"1": "x"}),
    ({"a": None}, None, {"a": "null"}),
    ({"a": [1, 2]}, {"a": [1, 2]}, {"a": [[1, 2]]}),
    ({"d": dt.date(2026, 1, 1)}, None, {"d": "2026-01-01"}),
    ({"t": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}, None, {"t": dt.datetime(2026, 1, 1)}),
    ({"s": "\u00e9"}, {"s": "e\u0301"[:0] + "\u00e9"}, {"s": "e\u0301"}),
    ({"a": 1, "b": 2}, None, {"b": 2, "a": 1}),  # another order is another document: rendered, never wrong
]


@pytest.mark.parametrize(("data", "same", "other"), SPEC_DIGESTS)
def test_a_spec_digest_tells_documents_apart(data: object, same: object, other: object) -> None:
    digest = spec_digest(data)
    assert len(digest) == 64
    assert same is None or spec_digest(same) == digest
    assert spec_digest(other) != digest


def test_a_spec_digest_is_the_same_on_every_machine() -> None:
    """Committed in the record: ascii() escapes every character outside ASCII by its code point."""
    data = {"metadata": {"name": "hippo", "labels": {"t\u00e9am": "\u4e2d\U0001f418"}}, "n": [1, 2.5, None, True]}
    assert spec_digest(data) == hashlib.sha256(ascii(data).encode()).hexdigest()
    assert ascii(data) == (
        "{'metadata': {'name': 'hippo', 'labels': {'t\\xe9am': '\\u4e2d\\U0001f418'}}, 'n': [1, 2.5, None, True]}"
    )


def test_a_document_ascii_cannot_spell_is_rendered() -> None:
    assert spec_digest({"n": 10**5000}) == ""


def test_the_record_is_the_same_on_every_machine(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Committed with the output, it must not change with who renders: another build of pgrender (whose
    fingerprint is in the local cache), the same key from PGRENDER_KEY or from another file."""
    before = (repo / "rendered" / record.RECORD).read_bytes()
    monkeypatch.setattr(record, "code_fingerprint", lambda: "another machine's build")
    assert fast(*RENDER) is None  # this build never checked the output
    assert run_cli(*RENDER).exit_code == 0
    assert (repo / "rendered" / record.RECORD).read_bytes() == before
    assert fast(*RENDER) is not None
    monkeypatch.setenv("PGRENDER_KEY", GOLDEN_KEY.read_text().strip().upper())
    assert fast(*RENDER) is not None
    shutil.copy2(repo / "root.key", repo / "copy.key")
    assert fast(*RENDER, "--key-file", "copy.key") is not None


def test_diff_and_lint_of_a_directory_pass_the_record_by(repo: Path) -> None:
    shutil.copytree(repo / "rendered", repo / "copy")
    (repo / "copy" / record.RECORD).write_text("another record\n")
    assert run_cli("diff", "rendered", "copy").stderr.strip() == "no changes"
    linted = run_cli("lint", "rendered")
    yaml_files = [p for p in (repo / "rendered").rglob("*") if p.is_file() and p.name != record.RECORD]
    assert linted.exit_code == 0 and f"objects in {len(yaml_files)} files" in linted.stderr


def test_the_fast_paths_restated_constants_are_the_originals() -> None:
    from pgrender import validity, write
    from pgrender.secrets.keys import ALLOW_TEST_KEY_VAR, ENV_VAR, MAX_KEY_FILE_BYTES

    assert record.QUIET_SECONDS == validity.EXPIRY_WARNING_DAYS * 86400
    assert record.DIR_MODE == write.DIR_MODE
    assert write.file_mode(record.RECORD) == record.RECORD_MODE
    assert (record.KEY_VAR, record.ALLOW_TEST_KEY_VAR) == (ENV_VAR, ALLOW_TEST_KEY_VAR)
    assert record.MAX_KEY_FILE_BYTES == MAX_KEY_FILE_BYTES
    assert (record.TEST_KEY_SHA256, record.KEY_BYTES) == (keys.TEST_KEY_SHA256, keys.KEY_BYTES)


@pytest.mark.parametrize("text", ["rendered", "rendered/", "./rendered", "a//b", "a/./b", "a/.", "/", ".", "/abs/out"])
def test_check_names_the_directory_as_pathlib_does(text: str) -> None:
    assert record._as_path(text) == str(Path(text))


# The guard against plaintext in git ----------------------------------------------------------------------


def test_the_git_check_still_holds_on_the_fast_path(repo: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / ".gitignore").write_text("/rendered/\n")
    assert fast(*RENDER) is not None
    (repo / ".gitignore").unlink()
    assert fast(*RENDER) is None
    refused = run_cli(*RENDER)
    assert refused.exit_code == 2 and "is not git-ignored" in refused.stderr
    assert fast(*CHECK) is not None  # check writes nothing: no git check on either path
    assert fast(*RENDER, "--allow-secrets-in-git") is not None


# The code fingerprint ------------------------------------------------------------------------------------


def test_an_editable_install_is_fingerprinted_by_its_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "src" / "pgrender"
    shutil.copytree(ROOT / "pgrender", package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(record, "__file__", str(package / "record.py"))
    first = record.code_fingerprint()
    (package / "__pycache__").mkdir(exist_ok=True)
    (package / "__pycache__" / "render.cpython.pyc").write_bytes(b"compiled")
    assert record.code_fingerprint() == first, "bytecode is not code"
    os.utime(package / "render.py", ns=(1, 1))
    assert record.code_fingerprint() != first


def test_an_installed_release_is_fingerprinted_by_its_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site-packages"
    shutil.copytree(ROOT / "pgrender", site / "pgrender", ignore=shutil.ignore_patterns("__pycache__"))
    (site / "pgrender-0.1.0.dist-info").mkdir()
    (site / "pgrender-0.1.0.dist-info" / "RECORD").write_text("pgrender/__init__.py,sha256=one,3\n")
    monkeypatch.setattr(record, "__file__", str(site / "pgrender" / "record.py"))
    first = record.code_fingerprint()
    os.utime(site / "pgrender" / "render.py", ns=(1, 1))
    assert record.code_fingerprint() == first, "an install's mtimes differ between machines; its RECORD does not"
    (site / "pgrender-0.1.0.dist-info" / "RECORD").write_text("pgrender/__init__.py,sha256=two,3\n")
    assert record.code_fingerprint() != first


# What the fast path imports ------------------------------------------------------------------------------

# Run without site (-S) and with pgrender from the source tree: a development install's finder
# imports re and pathlib at start-up, which would hide whether the fast path imports them. The stat
# cache is written for this interpreter's code fingerprint first (its sys.path differs).
PROBE = """
import os, sys
from pgrender import record
output = os.path.realpath("rendered")
record.remember_written(output, record.code_fingerprint(), record.read(os.path.join(output, record.RECORD))[1])
text, code = record.answer(sys.argv[1:], os.environ)
assert code == 0, (text, code)
print("\\n".join(sorted(sys.modules)))
"""
# Each costs milliseconds the no-op target does not have (`-X importtime`, a plain install): re with
# enum 5 to 7 ms (json's Python layer, glob and fnmatch import it), hashlib's OpenSSL 3.7 ms.
NOT_ON_THE_FAST_PATH = (
    "click",
    "pydantic",
    "cryptography",
    "ruamel",
    "typing",
    "dataclasses",
    "pathlib",
    "re",
    "enum",
    "json",
    "hashlib",
    "_hashlib",
    "glob",
    "fnmatch",
    "contextlib",
    "pgrender.cli",
    "pgrender.config",
    "pgrender.errors",
    "pgrender.spec",
    "pgrender.plan",
    "pgrender.render",
    "pgrender.write",
)


JSON_VALUES = [
    None,
    True,
    False,
    0,
    -17,
    2**70,
    "",
    "plain",
    'quote " backslash \\ slash / tab \t newline \n nul \0',
    "é ü 中文 🐘",
    [],
    {},
    ["pgrender-record/1", "0.1.0", None, [["a.yaml", "ab" * 32]], "team"],
    {"record": "f" * 64, "code": "0" * 64, "files": {"a/b.yaml": [1, 2, 1700000000123456789, 3]}},
    [[["deep"]], {"k": {"l": [True, None]}}],
]


@pytest.mark.parametrize("value", JSON_VALUES, ids=repr)
def test_the_fast_paths_json_is_jsons(value: object) -> None:
    """_dumps writes json.dumps's bytes (the digests of both paths hash them); _loads reads as json.loads."""
    assert record._dumps(value) == json.dumps(value)
    assert record._loads(json.dumps(value).encode()) == value
    assert record._loads(json.dumps(value, indent=0, sort_keys=True).encode() + b"\n") == value


@pytest.mark.parametrize("text", [b"", b" ", b"{", b"[1] x", b"nul", b'{"a" 1}', b"[1,]", b"\xff"], ids=repr)
def test_the_fast_paths_json_refuses_what_json_refuses(text: bytes) -> None:
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        record._loads(text)


def test_the_fast_paths_json_writes_only_what_it_knows() -> None:
    with pytest.raises(TypeError):
        record._dumps(1.5)


def _modules(*argv: str) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-S", *argv], capture_output=True, text=True, check=True, env=env)
    return set(result.stdout.split())


@pytest.mark.parametrize("argv", [RENDER, CHECK, ("validate",)], ids=" ".join)
def test_the_fast_path_imports_only_light_modules(repo: Path, argv: tuple[str, ...]) -> None:
    modules = _modules("-c", PROBE, *argv)
    assert {"pgrender.record", "pgrender.globs"} <= modules
    assert sorted(m for m in modules if m.split(".")[0] in NOT_ON_THE_FAST_PATH or m in NOT_ON_THE_FAST_PATH) == []
    assert "re" not in _modules("-c", "import sys; print('\\n'.join(sys.modules))"), "Python itself imports re"


def test_the_git_check_of_the_fast_path_starts_git_without_subprocess(repo: Path) -> None:
    """Output in a work tree, git-ignored: git is asked, and the answer costs no subprocess import."""
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".gitignore").write_text("/rendered/\n")  # the default output directory
    modules = _modules("-c", PROBE, *RENDER)
    assert "pgrender.gitcheck" in modules and {"subprocess", "shutil"} & modules == set()
    (repo / ".gitignore").write_text("")
    assert fast(*RENDER) is None, "not ignored: the full path refuses"


def test_the_console_script_answers_without_importing_click(repo: Path) -> None:
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pgrender", *RENDER], cwd=repo, capture_output=True, text=True, check=False, env=env
    )
    imported = {
        line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")
    }
    printed = "".join(f"{line}\n" for line in result.stderr.splitlines() if not line.startswith("import time:"))
    assert (printed, result.returncode) == fast(*RENDER)
    assert "pgrender.record" in imported and "click" not in imported


WINDOW = ("team/hippo", "CA", dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2027, 1, 1, tzinfo=dt.UTC), "derived")
# (files, config, warnings, windows, directories): what record.make is given, as json.dumps must write it.
RECORDS = [
    ({}, None, "", [], {}),
    ({"kustomization.yaml": "resources: []\n"}, None, "", [], {"d" * 64: ""}),
    (
        {"a/x.yaml": "é\n", "a/kustomization.yaml": "k\n", "b-c/y.yaml": "", "kustomization.yaml": "k\n"},
        {"root": "/r", "specs": ["*.yaml"], "key_file": None},
        'a.yaml:1:1: warning: spec: "quoted" 中文\n',
        [WINDOW, WINDOW],
        {"f" * 64: "b-c", "0" * 64: "a"},
    ),
    ({"\u00e9t\u00e9/secret-\u4e2d.yaml": "x", 'a"b\\c.yaml': "y"}, {}, "", [WINDOW], {"e" * 64: "\u00e9t\u00e9"}),
    ({"x.yaml": "y"}, {"root": "/r", "specs": [], "z": {}, "a": {"b": [1.5, None, True]}}, "", [], {}),
]


@pytest.mark.parametrize(("files", "config", "warnings", "windows", "directories"), RECORDS)
def test_the_record_is_json_dumps_byte_for_byte(
    files: dict[str, str],
    config: dict[str, object] | None,
    warnings: str,
    windows: list[Window],
    directories: dict[str, str],
    tmp_path: Path,
) -> None:
    """record.make writes its body a file at a time; json.dumps(indent=0, sort_keys=True) of it all
    is what it must write (records written by earlier code read the same)."""
    mode = {True: 0o600, False: 0o644}
    made = "".join(
        record.make(
            inputs=("i" * 64, "s" * 64, "r" * 64),
            config=config,
            provider={"needs_root_key": True, "writes_plaintext": True},
            clusters=3,
            warnings=warnings,
            windows=lambda: windows,
            directories=directories.items,
            files=files,
            mode=lambda rel: mode["secret" in rel],
        )
    )
    body = json.dumps(
        {
            "inputs": "i" * 64,
            "specs": "s" * 64,
            "config": config,
            "provider": {"needs_root_key": True, "writes_plaintext": True},
            "clusters": 3,
            "warnings": warnings,
            "windows": [[w, what, a.timestamp(), b.timestamp(), fix] for w, what, a, b, fix in windows],
            "reuse": {"inputs": "r" * 64, "clusters": directories},
            "files": {rel: [record._sha(text.encode()), mode["secret" in rel]] for rel, text in sorted(files.items())},
        },
        indent=0,
        sort_keys=True,
    )
    assert made == f"{record.SCHEMA} {record._sha(body.encode())}\n{body}\n"
    assert [rel for rel, _ in _read(tmp_path, made.encode())[0]["files"]] == sorted(files)


def test_a_record_of_many_files_holds_no_object_a_file() -> None:
    """Made a piece at a time, a record of 20000 files holds each one's digest (32 bytes) and its
    place in the sorted names (8), not its entry as objects and json's pieces (about 300 bytes)."""
    import tracemalloc

    files = {f"c{i // 25:04d}/configmap-c{i // 25:04d}-{i % 25}.yaml": "x" for i in range(20000)}
    tracemalloc.start()
    try:
        for _ in record.make(
            inputs=("", "", ""),
            config=None,
            provider={},
            clusters=800,
            warnings="",
            windows=list,
            directories=list,
            files=files,
            mode=len,
        ):
            pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 60 * len(files), peak


def test_the_output_is_walked_in_the_records_order(tmp_path: Path) -> None:
    """record._walk gives the files in sorted() order of their paths, the order the record lists
    them in, whatever the names: a directory sorts as its name and "/"."""
    names = ["a.yaml", "a/x.yaml", "a-b/y.yaml", "a/b/z", "a0", "b", "A/é", "a/.h", "z/kustomization.yaml"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    (tmp_path / record.RECORD).write_text("left out")
    for directory in [tmp_path, *(p for p in tmp_path.rglob("*") if p.is_dir())]:
        directory.chmod(0o700)
    assert [rel for rel, _, _ in record._walk(str(tmp_path))] == sorted(names)
    (tmp_path / "a" / "b").chmod(0o755)
    with pytest.raises(record.Unanswered, match="mode 700"):
        list(record._walk(str(tmp_path)))


def _read(directory: Path, data: bytes) -> tuple[dict[str, Any], str]:
    """record.read of a record holding ``data``."""
    (directory / record.RECORD).write_bytes(data)
    return record.read(str(directory / record.RECORD))


BODY = {"clusters": 2, "config": {"root": "."}, "files": {"a/b.yaml": ["f" * 64, 420], "k.yaml": ["0" * 64, 384]}}


@pytest.mark.parametrize(
    ("text", "read"),
    [
        (json.dumps(BODY, indent=0, sort_keys=True), True),  # as written
        (json.dumps({**BODY, "files": {}}, indent=0, sort_keys=True), True),
        (json.dumps({**BODY, "files": {"a": {}}}, indent=0, sort_keys=True), True),  # not a record's, read as json
        (json.dumps(BODY, sort_keys=True), False),  # on one line: its files cannot be passed over
        (json.dumps(BODY, indent=0, sort_keys=True).replace("\n", "\n  "), False),  # indented: its files end elsewhere
        (json.dumps({**BODY, "files": {"a": {"x": 1}, "b": ["0", 1]}}, indent=0, sort_keys=True), False),
        (json.dumps(BODY, indent=0, sort_keys=True)[:-2], False),  # torn
        (json.dumps(BODY, indent=0, sort_keys=True) + "\n[]", False),
        (json.dumps({**BODY, "files": {}}, indent=0, sort_keys=True).replace("{}", "{\n}"), True),
        (
            json.dumps(BODY, indent=0, sort_keys=True).replace(
                '"config"', '"files": {\n"x": "unterminated\n},\n"config"'
            ),
            False,
        ),
        (json.dumps(BODY, indent=0, sort_keys=True).replace('"config"', '"clusters": 3,\n"config"'), False),  # twice
        (json.dumps([BODY], indent=0), False),
    ],
)
def test_a_record_is_read_as_json_reads_it_or_not_at_all(text: str, read: bool, tmp_path: Path) -> None:
    """record.read passes over the files, and RecordFiles reads them one at a time: what it reads is
    what json.loads reads, or it refuses (Unanswered, ValueError); it never reads another record."""
    data = f"{record.SCHEMA} {record._sha(text.encode())}\n{text}\n".encode()
    try:
        body, digest = _read(tmp_path, data)
        assert digest == record._sha(data)
        files = list(body.pop("files"))
    except (record.Unanswered, ValueError):
        assert not read
        return
    expected = json.loads(text)
    assert read and files == list(expected.pop("files").items()) and body == expected


def test_a_value_larger_than_a_chunk_is_scanned_a_few_times(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The certificate windows of a fleet are one value of megabytes: each failed scan reads as much
    again, so a value of 1400 chunks is scanned about log2(1400) times, not 1400 times (which grew
    with the square of the fleet)."""
    monkeypatch.setattr(record, "CHUNK", 64)
    scans = []
    scan = record._scan
    monkeypatch.setattr(record, "_scan", lambda text, i: scans.append(i) or scan(text, i))
    body = {**BODY, "windows": [[f"team{i}/c{i}", "CA", 1.5, 2.5, "derived"] for i in range(2000)]}
    text = json.dumps(body, indent=0, sort_keys=True)
    assert len(text) > 1400 * 64
    read, _ = _read(tmp_path, f"{record.SCHEMA} {record._sha(text.encode())}\n{text}\n".encode())
    assert list(read.pop("files")) == list(body.pop("files").items())
    assert read == body
    assert len(scans) < 40, len(scans)


def test_verifying_a_large_output_holds_a_chunk_of_the_record_not_the_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record's files, the stat cache and the output are read side by side, the record and the
    cache a chunk at a time: writing the cache after a write (remember_written) and verifying 4000
    files hold neither file whole (a fleet's record is megabytes: held as bytes and text, it was a
    third of the peak of `render -o` of 3000 clusters), nor an object for each file; and writing
    the cache passes over the record's certificate windows and clusters (160 clusters' here; as
    objects, 1.3 MB at 1500 clusters, held while the files were verified)."""

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(record, "CHUNK", 4096)
    out = tmp_path / "out"
    files = {f"c{i // 25:03d}/configmap-c{i // 25:03d}-{i % 25}.yaml": f"{i}\n" for i in range(4000)}
    for rel, text in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        (out / rel).write_text(text)
        (out / rel).chmod(0o644)
    out.chmod(0o700)
    made = "".join(
        record.make(
            inputs=("", "", ""),
            config=None,
            provider={},
            clusters=160,
            warnings="",
            windows=lambda: WINDOWS,
            directories=lambda: ((f"{i:064x}", f"c{i:03d}") for i in range(160)),
            files=files,
            mode=lambda _: 0o644,
        )
    )
    (out / record.RECORD).write_text(made)
    digest = record._sha(made.encode())
    assert traced_peak(lambda: record.read(str(out / record.RECORD))) > 80_000  # the windows and clusters
    peaks = [
        traced_peak(lambda: record.remember_written(str(out), "code", digest)),
        traced_peak(
            lambda: record.verify_output(
                str(out), *_files(record.read(str(out / record.RECORD), keep=("files",))), "code"
            )
        ),
    ]
    cache_size = len(Path(record._cache_file(str(out))).read_bytes())
    assert cache_size > 200_000 and len(made) > 400_000
    assert max(peaks) < 80_000, peaks
    assert record.verify_output(str(out), *_files(record.read(str(out / record.RECORD))), "code") == 4000


_START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
WINDOWS = [
    (f"db/c{i:03d}", what, _START, _START + dt.timedelta(days=365), "derived")
    for i in range(160)
    for what in ("leaf certificates", "CA")
]
VALUES: list[Any] = [
    [],
    {},
    'a]"[{',
    [1, [2, [3, []]], {"a": {}}],
    {"a": [1, "x"], "b": {"c": None, "d": [True, False, 1.5]}, "e": "}\n]"},
    [{"k": [str(i), i, {"x": [i] * 3}]} for i in range(400)],
]


@pytest.mark.parametrize("chunk", [1, 7, 4096])
@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_a_value_passed_over_ends_where_json_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int, value: Any
) -> None:
    """skip_value: past a value as make() writes it (indent=0), to where json.loads reads it to."""
    monkeypatch.setattr(record, "CHUNK", chunk)
    text = json.dumps(value, indent=0) + ',\n"next"'
    path = tmp_path / "v"
    path.write_text(text)
    with open(path, "rb", buffering=0) as file:
        scanner = record._Scanner(file, 0, len(text))
        scanner.skip_value()
        assert scanner.offset == len(json.dumps(value, indent=0))
        scanner.expect(",\n")
        assert scanner.value() == "next"


@pytest.mark.parametrize("text", ["[1, 2]", '{"a": 1}', "[\n1\n2\n]", "[\n1,\n", "{\n1: 2\n}", "[" * 40 + "]" * 40])
def test_a_value_not_as_written_is_not_passed_over(tmp_path: Path, text: str) -> None:
    path = tmp_path / "v"
    path.write_text(text)
    with open(path, "rb", buffering=0) as file, pytest.raises(ValueError):
        record._Scanner(file, 0, len(text)).skip_value()


def test_reading_some_keys_of_a_record_reads_them_as_the_whole_does(tmp_path: Path) -> None:
    made = "".join(
        record.make(
            inputs=("i", "c", "k"),
            config=None,
            provider={"name": "derived"},
            clusters=160,
            warnings="",
            windows=lambda: WINDOWS,
            directories=lambda: ((f"{i:064x}", f"c{i:03d}") for i in range(160)),
            files={"a.yaml": "a\n", "b/c.yaml": "c\n"},
            mode=lambda _: 0o644,
        )
    )
    whole, digest = _read(tmp_path, made.encode())
    for keep in (("files",), ("windows", "clusters"), ()):
        some, same = record.read(str(tmp_path / record.RECORD), keep=keep)
        assert same == digest and set(some) == set(keep) & set(whole)
        assert {k: list(v) if k == "files" else v for k, v in some.items()} == {
            k: list(v) if k == "files" else v for k, v in whole.items() if k in keep
        }


def _files(read: tuple[dict[str, Any], str]) -> tuple[record.RecordFiles, str]:
    """The files and the digest of record.read's answer."""
    return read[0]["files"], read[1]


@pytest.mark.parametrize("size", [0, 1, 4096, 2 * record.CHUNK + 3])
@pytest.mark.parametrize("stat_says", [0, -1, 0.5], ids=["as-it-is", "one-less", "half"])
def test_read_open_reads_a_file_to_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int, stat_says: float
) -> None:
    """record.read_open: the file's bytes to its end, also when it grew since its size was taken."""
    path = tmp_path / "file"
    data = bytes(i % 251 for i in range(size))
    path.write_bytes(data)
    if stat_says:
        fstat = os.fstat
        told = max(0, size - 1) if stat_says == -1 else int(size * stat_says)

        def smaller(fd: int) -> Any:
            st = fstat(fd)
            return os.stat_result((*st[:6], told, *st[7:]))

        monkeypatch.setattr(os, "fstat", smaller)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert record.read_open(fd) == data
    finally:
        os.close(fd)


def _output_with_record(out: Path, files: dict[str, str]) -> record.RecordFiles:
    """``files`` written below ``out`` as a render leaves them, and a record listing them."""
    for rel, text in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        (out / rel).write_text(text)
        (out / rel).chmod(0o644)
    made = record.make(
        inputs=("", "", ""),
        config=None,
        provider={},
        clusters=0,
        warnings="",
        windows=lambda: [],
        directories=lambda: iter(()),
        files=files,
        mode=lambda _: 0o644,
    )
    (out / record.RECORD).write_text("".join(made))
    files_read: record.RecordFiles = record.read(str(out / record.RECORD))[0]["files"]
    return files_read


def test_reuse_reads_the_record_of_a_cluster_as_far_as_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cluster's files are read from where the record lists them, as many bytes as they take (a
    chunk for each cluster of a fleet was most of reuse's cost); the first and the last cluster's too."""
    files = {f"c{i // 20:03d}/configmap-{i % 20:02d}.yaml": f"{i}\n" for i in range(300 * 20)}
    listed = _output_with_record(tmp_path, files)
    taken = reuse.Reuse(str(tmp_path), listed, {f"digest{n}": f"c{n:03d}" for n in range(300)})
    read: list[int] = []
    pread = os.pread
    monkeypatch.setattr(os, "pread", lambda fd, size, at: read.append(size) or pread(fd, size, at))
    for n in (0, 150, 299):
        read.clear()
        assert taken.files(f"digest{n}") == {f"configmap-{i:02d}.yaml": f"{n * 20 + i}\n" for i in range(20)}
        assert 0 < sum(read) < 20 * 200, read  # a pair takes about 110 bytes; a chunk, 256 KiB
    assert taken.files("digest300") is None


@pytest.mark.parametrize(
    ("names", "reused"),
    [
        (["a.yaml", "c.yaml"], True),  # a flat base
        (["a.yaml", "b/x.yaml", "c.yaml"], False),  # its files listed apart: not what a render writes
        (["a.yaml", "b/x.yaml"], False),  # beside a directory
    ],
)
def test_reuse_takes_a_flat_base_listed_together(tmp_path: Path, names: list[str], reused: bool) -> None:
    listed = _output_with_record(tmp_path, {name: f"{name}\n" for name in names})
    found = reuse.Reuse(str(tmp_path), listed, {"digest": ""}).files("digest")
    assert (found == {name: f"{name}\n" for name in names}) if reused else found is None
