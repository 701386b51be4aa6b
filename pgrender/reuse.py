"""A render into a directory takes each cluster whose document did not change from the output
already there, instead of building, deriving and emitting it again.

Measured reason (benchmarks/noop_bench.py, "one spec changed"): a pre-commit hook rendered every
spec of the repository when one changed, and building, deriving and emitting a cluster is most of
a cluster's cost (plans are a quarter of it). With 20 specs and one changed, `render --write
--exit-code` took 15x `python -c pass` and takes 9x; with 200 specs, 2.8 s and 1.2 s. Every cluster
is still loaded, validated and resolved: the rules across clusters need them all.

What proves a cluster's files current. A cluster's output is a function of its document
(plans.spec_digest), of the render's other inputs (record.Inputs.shared(): pgrender's
version, the config, the output path, the secrets provider, the default namespace, the root key's
fingerprint and the sealing certificate) and of pgrender's code; resolve reads nothing else, and
the builders read only the plan. So a cluster is reused when all of these hold:

- the output directory's record (record.py) is intact, its ``reuse`` names the same shared digest,
  and it lists the cluster's spec digest with the directory its files are in;
- this build of pgrender wrote that record there, or checked the output against it: the header of
  the directory's stat cache names the record's digest and the code's fingerprint (record.cached),
  which the version in the shared digest does not tell apart (an editable install, a patched one);
- the secrets provider does not read the output it replaces (provider sealed keeps the ciphertexts
  of unchanged values from it): commands._reusing asks only for other providers;
- each of the cluster's files, read as it is taken, has the record's SHA-256 and mode, and the
  record was not written over in place meanwhile (RecordFiles.unchanged: only the cluster's part of
  it is read, and another output copied over this one holds another record's digests there).

The output is not verified whole first (record.verify_output, 6% of a render after one of 1000
specs changed): each file taken is read and hashed anyway, and one that is not as recorded only
renders its cluster. What else the output holds is the write's to judge, as after a render of
every cluster (files pgrender did not write are refused). Any doubt renders the cluster, or every
cluster: reuse only ever saves work. The files are taken as the render's own
(write.cluster_files), so the guard, ``--exit-code``, the write and the new record see the same
files a full render makes (tests/test_record.py compares them byte for byte).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator, Mapping
from itertools import islice

from pgrender import record


class Reuse:
    """The clusters an output directory holds current: spec digest → the directory of its files."""

    def __init__(self, directory: str, files: record.RecordFiles, clusters: Mapping[str, str]) -> None:
        self._directory = directory
        self._files = files
        self._clusters = clusters
        # Where each directory's files are in the record (the first's offset, how many, and the
        # bytes to the next's): a cluster's are read from there. A directory whose files are listed
        # apart, or a flat base beside directories (not what a render writes), is none.
        self._places: dict[str, tuple[int, int, int | None]] = {}
        wanted = set(clusters.values())
        seen: set[str] = set()
        for top, start, count, size in _runs(files):
            if top in seen:
                self._places.pop(top, None)
            elif top in wanted:
                self._places[top] = (start, count, size)
            seen.add(top)
        if len(seen) > 1:  # a flat base ("") is one cluster's output: every file the record lists
            self._places.pop("", None)

    def files(self, spec_digest: str) -> dict[str, str] | None:
        """The files of the cluster of ``spec_digest`` (name in its directory → text), each as the
        record has it; None where the record lists no such cluster or a file is not as recorded."""
        where = self._clusters.get(spec_digest)
        if where is None or where not in self._places:
            return None
        start, count, size = self._places[where]
        prefix = f"{where}/" if where else ""
        found: dict[str, str] = {}
        try:
            for rel, (digest, mode), _ in islice(self._files.placed(start, size), count):
                if not rel.startswith(prefix):
                    return None  # not the directory's: the record changed since it was read
                if "/" in rel[len(prefix) :]:
                    return None  # deeper than a cluster's directory: not what a render writes
                text = _read(os.path.join(self._directory, rel), digest, mode)
                if text is None:
                    return None
                found[rel[len(prefix) :]] = text
            # Its part only was read: the record written over meanwhile (`cp -r` of another output)
            # would have given another record's digests, which the files copied with it have.
            self._files.unchanged()
        except (ValueError, TypeError):  # a record's files not as make() writes them
            return None
        return found or None


def _runs(files: record.RecordFiles) -> Iterator[tuple[str, int, int, int | None]]:
    """Each run of files the record lists together in one top directory ("" for none): the
    directory, the first's offset in the record, how many, and the bytes to the next run's (for
    the last, None: read a chunk at a time to the end of the list)."""
    run: tuple[str, int, int] | None = None
    for rel, _, start in files.placed():
        top = rel.partition("/")[0] if "/" in rel else ""
        if run is not None and top == run[0]:
            run = (top, run[1], run[2] + 1)
            continue
        if run is not None:
            yield run[0], run[1], run[2], start - run[1]
        run = (top, start, 1)
    if run is not None:
        yield run[0], run[1], run[2], None


def found(target: str, shared: str, code: str) -> Reuse | None:
    """What the output directory ``target`` holds current for a render whose shared digest is
    ``shared`` by pgrender's code of fingerprint ``code``; None when it cannot be proven."""
    directory = os.path.realpath(target)
    try:
        body, record_digest = record.read(os.path.join(directory, record.RECORD))
        reuse = body.get("reuse")
        if not isinstance(reuse, dict) or reuse.get("inputs") != shared:
            return None
        clusters = reuse.get("clusters")
        if not isinstance(clusters, dict) or not all(isinstance(d, str) for d in clusters.values()):
            return None
        record.cached(directory, record_digest, code)  # this build made the record here, or checked it
        return Reuse(directory, body["files"], clusters)
    except record.DOUBTS:
        return None


def _read(path: str, digest: str, mode: int) -> str | None:
    """The text of the regular file ``path`` when it has ``digest`` and ``mode``, else None."""
    data = _regular(path, mode)
    if data is None or _sha256(data) != digest:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _regular(path: str, mode: int | None = None) -> bytes | None:
    """The bytes of ``path`` when it is a regular file (not a link to one), of ``mode`` if given."""
    try:
        fd = record.open_regular(path, follow=False)
    except OSError:
        return None
    if fd is None:
        return None
    try:
        if mode is not None and stat.S_IMODE(os.fstat(fd).st_mode) != mode:
            return None
        return record.read_open(fd)
    except OSError:
        return None
    finally:
        os.close(fd)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
