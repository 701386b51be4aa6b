"""Kustomize base on disk: one file per object, a sorted kustomization.yaml, atomic replacement.

Unchanged files are never rewritten: a run that changes nothing touches nothing, and a run that
changes some files hard-links the others into the new tree, so inodes and mtimes say what changed.

How a write survives being killed, failing, or racing another render:

- Lock. A run holds an exclusive flock(2) on the output's parent directory for the whole write, so
  renders into one directory take turns; one that waits longer than LOCK_TIMEOUT stops with an error.
  Locking the directory rather than a lock file leaves nothing behind to clean up or git-ignore. On a
  file system without flock (NFS can refuse it on a directory) the write goes on unlocked.
- Work directory. The new tree is built in ``.<name>.pgrender-XXXXXXXX/new`` beside the output. The
  output's own ignore rule (``/rendered/``) does not cover a sibling, so the work directory gets a
  ``.gitignore`` holding ``*`` before anything else, and loses it last: git never offers a rendered
  file in it for a commit, whenever a run dies (killed between creating that .gitignore and writing
  its one line, a run leaves the empty file for git to see, and nothing else). mkdtemp makes it 0700.
- Swap. renameat2(RENAME_EXCHANGE) (Linux 3.15, glibc 2.28) exchanges ``new`` and the output in one
  step, so the output name always holds a complete tree, old or new; the old tree ends up in the work
  directory, which is then deleted. Where exchange is missing (macOS, musl, some file systems) the
  output is renamed to ``<work>/old`` and ``new`` into its place: a crash between those two renames
  leaves no output, and the next run puts ``old`` back.
- One file. When the output differs from the new tree in one file alone (the record, after a spec's
  comment changed or an upgrade that renders the same objects), that file is made in the work
  directory and renamed over its old self: one step again, and nothing else is linked or deleted.
- Recovery. Each run, under the lock and before anything else, renames a leftover ``<work>/old`` back
  when the output is missing, then deletes every work directory earlier runs left (including the
  ``.<name>.XXXXXXXX`` staging and ``.<name>.old.XXXXXXXX`` directories of earlier pgrender versions).
- Modes. Directories are 0700 and Secret files 0600, as the derived provider's Secrets hold keys in
  the clear; other files are 0644. A file is created with its final mode, never readable by others
  even for a moment.
- Symlinks. An output path that is a symlink to a directory is written where it points and the link
  stays: replacing it would move the Secrets to where the link is, which the git check never saw.
- Errors. An OSError (disk full, read-only file system, permissions) becomes an OutputError naming
  the cause and the file, and the output is left as it was.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import stat
import time
from array import array
from collections.abc import Iterable, Iterator, Mapping, Set
from itertools import pairwise
from pathlib import Path
from struct import Struct
from typing import IO

from pgrender import emit
from pgrender.errors import InternalError, OutputError
from pgrender.plan.labels import CLUSTER_NAMESPACE_ANNOTATION
from pgrender.plan.names import cluster_directories
from pgrender.record import RECORD, in_order, read_open
from pgrender.render import ClusterOutput, Finished, Rendering
from pgrender.spill import DigestMap, Records, Texts, sorted_strings

KUSTOMIZATION = "kustomization.yaml"
FILE_MODE = 0o644
SECRET_FILE_MODE = 0o600
DIR_MODE = 0o700
FOREIGN_COUNTED = 1000  # files pgrender did not write, counted before a write is refused for them
LOCK_TIMEOUT = 60.0  # seconds a render waits for another one writing beside it
LOCK_POLL = 0.05
WORK_MARK = "pgrender-"
WORK_IGNORE = b"# pgrender's work directory: never commit it\n*\n"
RENAME_EXCHANGE = 2  # linux/fs.h
AT_FDCWD = -100  # linux/fcntl.h
# errnos of a file system that has no flock (NFS may refuse it on a directory): the write goes on unlocked.
NO_LOCKS = frozenset({errno.ENOLCK, errno.EBADF, errno.EOPNOTSUPP, errno.EINVAL})
# errnos of renameat2 where the kernel or the file system cannot exchange: two renames instead.
NO_EXCHANGE = frozenset({errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP})


def file_name(manifest: emit.Manifest) -> str:
    """<kind>-<name>.yaml, lower case: unique within a cluster, as emit refuses duplicate ids; a copy in an
    application's namespace (users[].secretNamespaces) <kind>-<name>.<namespace>.yaml."""
    meta = manifest["metadata"]
    copy = CLUSTER_NAMESPACE_ANNOTATION in meta.get("annotations", {})
    return f"{manifest['kind'].lower()}-{meta['name']}{'.' + meta['namespace'] if copy else ''}.yaml"


def kustomization(resources: list[str]) -> str:
    return emit.dump(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": sorted(resources),
        }
    )


def cluster_files(cluster: ClusterOutput) -> Mapping[str, str]:
    """File name → text of one cluster's directory: its objects' and their kustomization, or the
    files the output held already (a cluster reused: reuse.py), which are those."""
    if cluster.files is not None:
        return cluster.files
    files = {file_name(d.manifest): d.text for d in cluster.documents}
    files[KUSTOMIZATION] = kustomization(list(files))
    return files


def files(rendering: Rendering) -> dict[str, str]:
    """Relative path → content. One cluster: a flat base; several: one directory per cluster."""
    return dict(collect(rendering.clusters)[0])


def directories(done: Finished) -> Iterator[str]:
    """The directory of each cluster's files: "" for the flat base of one cluster, else each its own."""
    return cluster_directories(done.names) if len(done) > 1 else iter([""] * len(done))


def collect(clusters: Iterable[ClusterOutput]) -> tuple[SpooledTexts, Finished]:
    """files() of clusters taken as they come (render.stream), spooled (SpooledTexts), each one's
    objects let go once its files are taken; and the clusters without their documents (names and
    certificate windows, for the warnings: render.Finished). A cluster's directory is decided once
    every cluster's name is known (SpooledTexts.place)."""
    spooled = SpooledTexts()
    done = Finished()
    try:
        for cluster in clusters:
            spooled.add_cluster(cluster_files(cluster))
            done.add(cluster)
    except BaseException:
        _stop(clusters)
        raise
    if len(done) == 1:
        spooled.place(None)
        return spooled, done
    dirs = list(directories(done))
    spooled.place(dirs)
    spooled.add(KUSTOMIZATION, kustomization(dirs))
    return spooled, done


class SpooledTexts(Mapping[str, str]):
    """Relative path → text, held in memory up to SPOOL_IN_MEMORY characters and past that in an
    anonymous temporary file, each text read back when asked for: the files a render to a
    directory writes, and the ones it replaces, which the refused-changes guard, --exit-code and
    the record read before the all-or-nothing replacement. Held in memory, they grew by about
    0.3 MB per cluster. The file is made as spool()'s is (no name, mode 0600); where none can be
    made, the texts stay in memory.

    A render's files come a cluster at a time (add_cluster) and are held under the cluster's
    directory (place) as one string of its names and the end of each text in the file: no string
    is held for a name, and the names are iterated in sorted order (``iterates_sorted``:
    record.in_order). A render of 3000 clusters writes 77000 files: held as a name, an offset and
    a dict entry each, with the interned names' table, their index cost 15 MB (tracemalloc); an
    object for each cluster, about 20 bytes a file. Spooled, a cluster is three offsets in a spill
    store (its texts, its names and their ends are in the file), and its directory a digest in a
    spill.DigestMap: nothing that grows with the clusters is held. Other texts (add: the top
    kustomization, the record, a file of a previous output outside any directory) are held by name.
    """

    iterates_sorted = True  # record.in_order

    def __init__(self) -> None:
        self._where: dict[str, str | int] = {}  # add()'s: the text, or where it is in the file (_at)
        # add_cluster()'s, by number: held until the texts are spooled, then where they are in the file.
        self._clusters: list[_ClusterTexts] = []
        self._spooled = Records(_SPOOLED.size)
        self._numbers = DigestMap()  # place()'s: each directory's cluster; "" for the flat base of one cluster
        self._placed = Texts()  # each directory, NUL and its cluster's number, in path order
        self._count = 0  # the names of the clusters' texts
        self._size = 0
        self._file: IO[bytes] | None = None
        self._no_file = False
        # _names(): the cluster read last (its number, names, where its texts end and start); and
        # _locate(): the directory looked up last and its cluster. What reads the texts reads them a
        # directory at a time: each lookup in a spill store is a system call.
        self._last: tuple[int, str, array[int] | None, int] = (-1, "", None, 0)
        self._last_directory: tuple[str, int] = ("\0", -1)

    def add(self, rel: str, text: str | Iterable[str]) -> None:
        """Hold ``text`` under ``rel``: a string, or pieces of one (a large text, written to the
        file as they come once the texts are there)."""
        if not isinstance(text, str):
            if self._file is None:
                text = "".join(text)
            else:
                self._add_pieces(rel, text, self._file)
                return
        self._grown(len(text))
        if self._file is None:
            self._where[rel] = text
            return
        data = text.encode("utf-8")
        self._where[rel] = _at(self._file.seek(0, os.SEEK_END), len(data))
        self._file.write(data)

    def add_in_order(self, texts: Iterable[tuple[str, str]]) -> SpooledTexts:
        """Hold ``texts`` ((relative path, text), in sorted order: a directory's files one after
        another), each directory's files together (add_cluster), the rest by name (add), then place
        the directories; self. How a previous output is read, from the work tree or from git."""
        directories: list[str] = []
        held: dict[str, str] = {}
        for rel, text in texts:
            below, slash, name = rel.partition("/")
            if not slash:
                self.add(rel, text)
                continue
            if not directories or directories[-1] != below:
                if held:
                    self.add_cluster(held)
                directories.append(below)
                held = {}
            held[name] = text
        if held:
            self.add_cluster(held)
        self.place(directories)
        return self

    def add_cluster(self, files: Mapping[str, str]) -> None:
        """Hold one cluster's files (file name → text), under the directory place() gives it."""
        names = sorted(files)
        self._grown(sum(len(files[name]) for name in names))
        held = _ClusterTexts(_joined(names), tuple(files[name] for name in names))
        if self._file is not None:
            self._spooled.append(held.spool(self._file))
        else:
            self._clusters.append(held)
        self._count += len(names)

    def _clusters_added(self) -> int:
        return len(self._clusters) + len(self._spooled)

    def place(self, directories: list[str] | None) -> None:
        """Put the clusters' files in their directories, in the order they were added; None: the
        one cluster's files are the flat base."""
        added = self._clusters_added()
        if directories is None:
            if added > 1:
                raise InternalError("several clusters' files in one flat base")
            directories = [""] * added
        placed = 0
        for number, directory in enumerate(directories):
            if self._numbers.setdefault(directory, number) != number:
                raise InternalError("two clusters' files in one directory")
            placed += 1
        if placed != added:
            raise InternalError("a directory for each cluster's files")
        # A path's order is its directory's followed by "/": "a-b/x" sorts before "a/x". No directory
        # holds a "/" or a NUL, so the sorted strings are in that order.
        for placed_as in sorted_strings(f"{d}/\0{n}" for n, d in enumerate(directories)):
            self._placed.append(placed_as)

    def _grown(self, size: int) -> None:
        self._size += size
        if self._file is None and self._size > SPOOL_IN_MEMORY and not self._no_file:
            self._spill()

    def _add_pieces(self, rel: str, pieces: Iterable[str], file: IO[bytes]) -> None:
        start = file.seek(0, os.SEEK_END)
        held: list[str] = []
        size = 0
        for piece in pieces:  # making a piece may read other texts here, which moves the file's position
            held.append(piece)
            size += len(piece)
            if size >= SPOOL_PIECES:
                file.seek(0, os.SEEK_END)
                file.write("".join(held).encode("utf-8"))
                held, size = [], 0
        file.seek(0, os.SEEK_END)
        file.write("".join(held).encode("utf-8"))
        self._where[rel] = _at(start, file.tell() - start)

    def _spill(self) -> None:
        import tempfile

        try:
            self._file = tempfile.TemporaryFile(prefix="pgrender-")  # noqa: SIM115 - held open while spooled
        except OSError:  # a read-only /tmp (some Argo CD plugin sidecars): the render goes on, in memory
            self._no_file = True
            return
        for rel, text in self._where.items():
            assert isinstance(text, str)
            data = text.encode("utf-8")
            self._where[rel] = _at(self._file.tell(), len(data))
            self._file.write(data)
        for held in self._clusters:
            self._spooled.append(held.spool(self._file))
        self._clusters = []

    def _locate(self, rel: str) -> str | int | None:
        """The text under ``rel``, or where it is in the file (_at); None when there is none."""
        where = self._where.get(rel)
        if where is not None or not self._placed:
            return where
        directory, _, name = rel.partition("/") if "/" in rel else ("", "", rel)
        if directory == self._last_directory[0]:
            number = self._last_directory[1]
        else:
            found = self._numbers.get(directory)
            if found is None:
                return None
            number = found
            self._last_directory = (directory, number)
        names, ends, start = self._names(number)
        i = _index(names, name)
        if i < 0:
            return None
        if ends is None:
            return self._clusters[number].texts[i]
        begin = ends[i - 1] if i else 0
        return _at(start + begin, ends[i] - begin)

    def _names(self, number: int) -> tuple[str, array[int] | None, int]:
        """A cluster's names, where each of its texts ends in the file (None: its texts are held),
        and where the first starts: held, or read from the file (the last read kept)."""
        if self._clusters:
            return self._clusters[number].names, None, 0
        if self._last[0] != number:
            start, names, ends, end = _SPOOLED.unpack(self._spooled.read(number))
            held = array("I")
            held.frombytes(self._read(_at(ends, end - ends)))
            self._last = (number, self._read(_at(names, ends - names)).decode("utf-8"), held, start)
        return self._last[1], self._last[2], self._last[3]

    def _located(self, rel: str) -> str | int:
        where = self._locate(rel)
        if where is None:
            raise KeyError(rel)
        return where

    def __getitem__(self, rel: str) -> str:
        where = self._located(rel)
        return where if isinstance(where, str) else self._read(where).decode("utf-8")

    def get(self, rel: str, default: str | None = None) -> str | None:  # type: ignore[override]
        where = self._locate(rel)  # not Mapping.get's: a KeyError raised and caught for each miss
        if where is None:
            return default
        return where if isinstance(where, str) else self._read(where).decode("utf-8")

    def data(self, rel: str) -> bytes:
        """The text under ``rel`` in UTF-8, as the file holds it."""
        where = self._located(rel)
        return where.encode("utf-8") if isinstance(where, str) else self._read(where)

    def chunks(self, rel: str) -> Bytes:
        """The text under ``rel`` in UTF-8: its bytes, or, for a text larger than SPOOL_PIECES in
        the file, the bytes read a piece at a time (the record of a fleet's render is megabytes)."""
        where = self._located(rel)
        if isinstance(where, str):
            return where.encode("utf-8")
        return self._read(where) if (where & _LENGTH_MASK) <= SPOOL_PIECES else _Chunks(self, where)

    def _read(self, where: int) -> bytes:
        assert self._file is not None
        self._file.seek(where >> _LENGTH_BITS)
        return self._file.read(where & _LENGTH_MASK)

    def __contains__(self, rel: object) -> bool:
        return isinstance(rel, str) and self._locate(rel) is not None  # without reading the text

    def __iter__(self) -> Iterator[str]:
        self._check_placed()
        return _sorted_paths(self._where, self._directories())

    def _check_placed(self) -> None:
        if self._clusters_added() and not self._placed:
            raise InternalError("the clusters' files are read before they are placed")

    def _directories(self) -> Iterator[tuple[str, list[str]]]:
        """Each directory and its cluster's names, in path order."""
        for placed in self._placed:
            directory, _, number = placed.partition("/\0")
            yield directory, _split(self._names(int(number))[0])

    def __len__(self) -> int:
        return len(self._where) + self._count

    def chunked_items(self) -> Iterator[tuple[str, Bytes]]:
        """Each path and its text's bytes (chunks()), in sorted order: a cluster's files read at
        once, not looked up and read one by one (a fleet's output is tens of thousands)."""
        from heapq import merge

        self._check_placed()
        by_name = ((rel, self.chunks(rel)) for rel in sorted(self._where))
        placed = (placed.partition("/\0") for placed in self._placed)
        clusters = ((directory, int(number)) for directory, _, number in placed)
        in_directories = (
            (rel, data)
            for directory, number in clusters
            for name, data in zip(_split(self._names(number)[0]), self._cluster_data(number), strict=True)
            if (rel := f"{directory}/{name}" if directory else name) not in self._where  # as _locate reads
        )
        if self._numbers.get("") is None:  # directories only: in path order as placed
            return merge(by_name, in_directories, key=_path)
        # A flat base's names are paths without a directory: sorted among the others.
        return merge(by_name, sorted(in_directories, key=_path), key=_path)

    def _cluster_data(self, number: int) -> list[bytes]:
        """A cluster's texts in UTF-8, in the order of its names."""
        if self._clusters:
            return [text.encode("utf-8") for text in self._clusters[number].texts]
        _, ends, start = self._names(number)
        assert ends is not None
        data = self._read(_at(start, ends[-1] if ends else 0))
        return [data[begin:end] for begin, end in pairwise((0, *ends))]

    def differing(self, other: SpooledTexts) -> Iterator[str]:
        """The paths whose text differs here and in ``other``, or that only one of the two holds, in
        sorted order (record.differing). A directory both hold as a cluster's (add_cluster) with the
        same files, names and texts byte for byte, is passed over whole: after a change to one
        cluster of a fleet, the guard and ``--exit-code`` compare that cluster's files, not each of
        25,000 (a lookup in the spill stores and a read, on each side)."""
        from heapq import merge

        self._check_placed()
        other._check_placed()
        # The files held by name (add) and a flat base's are compared one by one; a name held so in
        # a cluster's directory (which read_output and collect never make) is one of those too.
        apart = {*self._where, *other._where, *self._flat_names(), *other._flat_names()}
        last = None
        for rel in merge(sorted(apart), self._differing_directories(other)):
            if rel != last and (rel not in apart or self.get(rel) != other.get(rel)):
                yield rel
            last = rel

    def _flat_names(self) -> list[str]:
        """The names of the files of a flat base (the cluster placed in directory "")."""
        number = self._numbers.get("") if self._placed else None
        return [] if number is None else _split(self._names(number)[0])

    def _differing_directories(self, other: SpooledTexts) -> Iterator[str]:
        """differing()'s paths below the clusters' directories (not ""), in sorted order."""
        from heapq import merge

        mine, theirs = self._numbered(), other._numbered()
        here, there = next(mine, None), next(theirs, None)
        while here is not None or there is not None:
            if there is None or (here is not None and here[0] + "/" < there[0] + "/"):
                assert here is not None
                yield from self._paths(*here)
                here = next(mine, None)
            elif here is None or there[0] + "/" < here[0] + "/":
                yield from other._paths(*there)
                there = next(theirs, None)
            else:
                if self._packed(here[1]) != other._packed(there[1]):
                    last = None
                    for rel in merge(self._paths(*here), other._paths(*there)):
                        if rel != last and self.get(rel) != other.get(rel):
                            yield rel
                        last = rel
                here, there = next(mine, None), next(theirs, None)

    def _numbered(self) -> Iterator[tuple[str, int]]:
        """Each cluster's directory but "" and its cluster's number, in path order."""
        for placed in self._placed:
            directory, _, number = placed.partition("/\0")
            if directory:
                yield directory, int(number)

    def _paths(self, directory: str, number: int) -> Iterator[str]:
        return (f"{directory}/{name}" for name in _split(self._names(number)[0]))

    def _packed(self, number: int) -> bytes:
        """A cluster's texts, names and ends as _ClusterTexts.packed() gives them."""
        if self._clusters:
            return self._clusters[number].packed()[0]
        start, _, _, end = _SPOOLED.unpack(self._spooled.read(number))
        return self._read(_at(start, end - start))


def _path(item: tuple[str, Bytes]) -> str:
    return item[0]


class _ClusterTexts:
    """One cluster's files in a SpooledTexts, until they are spooled: its names, sorted, as one
    string ("\\n" before and after each), and their texts."""

    __slots__ = ("names", "texts")

    def __init__(self, names: str, texts: tuple[str, ...]) -> None:
        self.names = names
        self.texts = texts

    def packed(self) -> tuple[bytes, int, int]:
        """The texts, then the names, then where each text ends (from the first's start: a
        cluster's are megabytes at most), as the file holds them; and where the names and the
        ends start in that."""
        data = [text.encode("utf-8") for text in self.texts]
        ends = array("I")
        end = 0
        for text in data:
            end += len(text)
            ends.append(end)
        names = self.names.encode("utf-8")
        return b"".join((*data, names, ends.tobytes())), end, end + len(names)

    def spool(self, file: IO[bytes]) -> bytes:
        """Write packed() to the end of ``file``: where its parts are (_SPOOLED)."""
        start = file.seek(0, os.SEEK_END)
        packed, names, ends = self.packed()
        file.write(packed)
        return _SPOOLED.pack(start, start + names, start + ends, start + len(packed))


# Where a spooled cluster's texts start, its names, the ends of its texts (array "I"), and its end.
_SPOOLED = Struct("<QQQQ")


# A few names held as one string, sorted, "\n" before and after each: a directory's files of a
# fleet's output (SpooledTexts, Names). The interpreter holds a string in 49 bytes and its text;
# held one by one in a dict or set, 77000 names cost 100 to 200 bytes each.


def _joined(names: Iterable[str]) -> str:
    """``names`` (none holding "\n", at least one) as one string, sorted."""
    return "\n" + "\n".join(sorted(names)) + "\n"


def _split(joined: str) -> list[str]:
    return joined[1:-1].split("\n")


def _index(joined: str, name: str) -> int:
    """The number of ``name`` in ``joined`` (its place in sorted order); -1 when it is not there."""
    at = joined.find(f"\n{name}\n") if "\n" not in name else -1
    return at if at < 0 else joined.count("\n", 0, at)


def _sorted_paths(top: Iterable[str], below: Iterator[tuple[str, Iterable[str]]]) -> Iterator[str]:
    """The paths of ``top`` (files without a directory) and of ``below`` (a directory and its
    names, the directories in order of ``directory + "/"``, each one's names sorted), in sorted
    order: "a-b/x" sorts before "a/x"."""
    from heapq import merge

    placed = (f"{directory}/{name}" if directory else name for directory, names in below for name in names)
    return merge(sorted(top), placed)


class Names(Set[str]):
    """A set of relative paths (a previous output's files: owned_files), iterated in sorted order
    (``iterates_sorted``: record.in_order). The paths below each top directory are held as one
    string (_joined) once that directory's kustomization is read (seal), in spill stores: a set of a
    fleet's 77000 names held 11 MB (tracemalloc, 3000 clusters); the strings in memory, 2.9 MB;
    here, past spill.IN_MEMORY, nothing that grows with the directories. Directories sealed out of
    path order (owned_files() reads a kustomization's last first) or sealed again are sorted by
    spill.sorted_strings when iterated. A path holding a NUL (which no file's does) is held as it is."""

    iterates_sorted = True

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._top: set[str] = set()  # no directory ("a.yaml"), or an absolute path: held as they are
        self._numbers = DigestMap()  # each sealed top directory: its number in _sealed
        self._sealed = Texts()  # each sealed directory, NUL, its paths below it (_joined); a later one replaces it
        self._open: dict[str, set[str]] = {}  # the top directories added to since the last seal()
        self._count = 0  # of the sealed directories' paths
        self._last = ("", "")  # the sealed directory read (or sealed) last, and its paths
        self._latest = ""  # the directory sealed last
        self._in_order = True  # each directory sealed once, after those before it in path order (d + "/")
        for name in names:
            self.add(name)
        self.seal()

    def add(self, rel: str) -> None:
        directory, slash, name = rel.partition("/")
        if not slash or not directory or "\0" in rel:  # the stores' entries are NUL-separated
            self._top.add(rel)
            return
        held = self._open.get(directory)
        if held is None:
            sealed = self._read(directory)
            held = self._open[directory] = set() if sealed is None else set(_split(sealed))
            self._count -= len(held)
        held.add(name)

    def seal(self) -> None:
        """Hold the paths added since the last seal() in the stores."""
        for directory in sorted(self._open, key=lambda d: d + "/"):
            names = self._open[directory]
            joined = _joined(names)
            number = self._sealed.append(f"{directory}\0{joined}")
            if self._numbers.setdefault(directory, number) != number:
                self._numbers.put(directory, number)  # sealed again: the earlier one is left unread
                self._in_order = False
            elif self._latest and directory + "/" < self._latest + "/":
                self._in_order = False
            self._latest = directory
            self._last = (directory, joined)
            self._count += len(names)
        self._open.clear()

    def _read(self, directory: str) -> str | None:
        """The paths below a sealed ``directory`` (_joined); None when there are none."""
        if directory != self._last[0]:
            number = self._numbers.get(directory)
            if number is None:
                return None
            self._last = (directory, self._sealed[number].partition("\0")[2])
        return self._last[1]

    def __contains__(self, rel: object) -> bool:
        if not isinstance(rel, str):
            return False
        directory, slash, name = rel.partition("/")
        if not slash or not directory or "\0" in rel:
            return rel in self._top
        held = self._open.get(directory)
        if held is not None:
            return name in held
        sealed = self._read(directory)
        return sealed is not None and _index(sealed, name) >= 0

    def __iter__(self) -> Iterator[str]:
        return _sorted_paths(self._top, self._directories())

    def _directories(self) -> Iterator[tuple[str, list[str]]]:
        """Each top directory and its paths, the directories in path order."""
        from heapq import merge

        opened = sorted(self._open, key=lambda d: d + "/")
        # The current seal of each directory not open again (an earlier seal, or one reopened by
        # add(), is not the directory's paths now).
        current: Iterable[int] = (
            i
            for i in range(len(self._sealed))
            if (d := self._sealed[i].partition("\0")[0]) not in self._open and self._numbers.get(d) == i
        )
        if not self._in_order:  # a directory sealed twice or out of order: the numbers sorted by name
            # No directory holds a "/" or a NUL: "d/" NUL number sorts as "d/".
            by_name = sorted_strings(f"{self._sealed[i].partition(chr(0))[0]}/\0{i}" for i in current)
            current = (int(entry.rpartition("\0")[2]) for entry in by_name)
        sealed = ((d, _split(names)) for d, _, names in (self._sealed[i].partition("\0") for i in current))

        return merge(
            sealed,
            ((d, sorted(self._open[d])) for d in opened),
            key=lambda pair: pair[0] + "/",
        )

    def __len__(self) -> int:
        return len(self._top) + self._count + sum(len(held) for held in self._open.values())


SPOOL_PIECES = 1 << 16  # characters of a text given in pieces written to the file at once; bytes read at once


class _Chunks:
    """A large spooled text's bytes, read from the file SPOOL_PIECES at a time whenever iterated."""

    def __init__(self, spooled: SpooledTexts, where: int) -> None:
        self._spooled, self._where = spooled, where

    def __len__(self) -> int:
        return self._where & _LENGTH_MASK

    def __iter__(self) -> Iterator[bytes]:
        offset, end = self._where >> _LENGTH_BITS, (self._where >> _LENGTH_BITS) + len(self)
        while offset < end:
            size = min(SPOOL_PIECES, end - offset)
            yield self._spooled._read(_at(offset, size))
            offset += size


Bytes = bytes | _Chunks  # a file's bytes, whole or in pieces (SpooledTexts.chunks)


def _pieces(data: Bytes) -> Iterable[bytes]:
    return (data,) if isinstance(data, bytes) else data


_LENGTH_BITS = 40  # a text of up to a terabyte
_LENGTH_MASK = (1 << _LENGTH_BITS) - 1


def _at(offset: int, length: int) -> int:
    """Where a spooled text is, as one number: its offset in the file above its length."""
    return offset << _LENGTH_BITS | length


def stream(rendering: Rendering) -> str:
    """All objects of all clusters as one YAML stream, without a kustomization object."""
    return "".join(part for c in rendering.clusters for d in c.documents for part in ("---\n", d.text))


# Characters of a spooled stream held in memory before a file takes them: a dozen clusters of
# 70 KB. Larger, and the copy into the file when it spills is the peak of a fleet's render (8 MiB
# cost 17 MB of peak RSS at 300 clusters).
SPOOL_IN_MEMORY = 1024 * 1024


def spool(clusters: Iterable[ClusterOutput]) -> tuple[IO[str], Finished]:
    """stream() of clusters taken as they come (render.stream), held until the render has
    succeeded (bad input writes nothing: TextSpool), returned at its start for copy(); and what the
    end of the render needs of each cluster (render.Finished), as collect() returns it."""
    spooled = TextSpool()
    done = Finished()
    try:
        for cluster in clusters:
            spooled.write("".join(part for d in cluster.documents for part in ("---\n", d.text)))
            done.add(cluster)
    except BaseException:
        spooled.file.close()
        _stop(clusters)
        raise
    return spooled.rewound(), done


def _stop(clusters: Iterable[ClusterOutput]) -> None:
    """Close ``clusters`` (render.stream) that its reader leaves early (an error, Ctrl-C): its
    worker processes (pgrender.fleet) finish and exit now, before the error is reported, rather
    than whenever the generator is collected (after the report, or never: commands.leave ends the
    process with os._exit)."""
    close = getattr(clusters, "close", None)
    if close is not None:
        close()


class TextSpool:
    """Text written as it is made, to be read back once it is all there: a render's stream
    (spool), check's diff. Up to SPOOL_IN_MEMORY characters (about a dozen clusters) stay in
    memory: most renders need no file. Past that they go to an anonymous temporary file, so memory
    stays flat. The file has no name (O_TMPFILE where the system has it, else unlinked at once) and
    mode 0600: the derived Secrets in it are no one else's to read, and nothing is left behind."""

    def __init__(self) -> None:
        self._memory: io.StringIO | None = io.StringIO()  # None once the file is tried
        self.file: IO[str] = self._memory
        self._size = 0

    def write(self, text: str) -> None:
        self._size += len(text)
        if self._size > SPOOL_IN_MEMORY and self._memory is not None:
            self.file, self._memory = _spool_file(self._memory), None
        self.file.write(text)

    def rewound(self) -> IO[str]:
        """The text, at its start, for copy() (which closes it)."""
        self.file.seek(0)
        return self.file


def _spool_file(spooled: io.StringIO) -> IO[str]:
    """A temporary file holding what ``spooled`` held; ``spooled`` itself where none can be made
    (a read-only /tmp, as in some Argo CD plugin sidecars): the render goes on, in memory."""
    import tempfile

    try:
        # Returned open: spool()'s caller closes it.
        out = tempfile.TemporaryFile("w+", encoding="utf-8", errors="surrogateescape", prefix="pgrender-")  # noqa: SIM115
    except OSError:
        return spooled
    out.write(spooled.getvalue())
    spooled.close()
    return out


# Characters copy() moves at a time. A piece is held three times over on its way (the bytes read,
# the text decoded, the bytes encoded): pieces of 1 MiB were the peak of a fleet's render to stdout
# (4 MB of the 8 MB tracemalloc saw at 300 clusters).
COPY_PIECE = 64 * 1024


def copy(spooled: IO[str], to: IO[str]) -> None:
    """Copy what spool() held to ``to`` in pieces, and close it."""
    with spooled:
        while piece := spooled.read(COPY_PIECE):
            to.write(piece)


def owned_files(directory: Path) -> Names:
    """Files a previous run wrote: each kustomization.yaml and the resources it lists (Names: a
    fleet's output has tens of thousands).

    Paths are strings, not pathlib's, which interns each part of a path (see _replace). Each
    directory is read once: a kustomization listing ``.``, a parent or a link to one does not loop."""
    owned = Names()
    top = f"{directory}/"
    pending = [""]  # directories below ``directory``: "" or "a/b/"
    seen = {os.path.realpath(top)}
    while pending:
        rel = pending.pop()
        kfile = f"{top}{rel}{KUSTOMIZATION}"
        if not os.path.isfile(kfile):
            continue
        owned.add(rel + KUSTOMIZATION)
        with open(kfile, encoding="utf-8", errors="replace") as file:  # a hand-edited one: its names that decode
            lines = file.read().splitlines()
        for line in lines:
            if line.startswith("- "):
                entry = line[2:].strip().strip('"')
                if entry.startswith("/") or ".." in entry.split("/"):
                    continue  # outside the output: pgrender never lists one, and it is never read or removed
                name = _normal(rel + entry)  # as pathlib's joining has it
                if os.path.islink(top + name) and os.path.isdir(top + name):
                    continue  # a linked directory: pgrender writes none, and reads no kustomization through one
                if os.path.isdir(top + name):
                    if (real := os.path.realpath(top + name)) not in seen:
                        seen.add(real)
                        pending.append(name + "/")
                else:
                    owned.add(name)
        owned.seal()  # a cluster's directory is read: its names held as one string
    return owned


def files_below(top: Path) -> Iterator[str]:
    """The relative paths of the files below ``top``, as ``Path.rglob("*")`` and ``is_file()`` find
    them (symlinks to files too; no symlinked directory entered; an unreadable one skipped), one at
    a time and without a Path object for each: a large render's output has tens of thousands, and
    a caller that only looks for the few it does not expect need not hold them all."""
    pending = [""]
    while pending:
        rel = pending.pop()
        try:
            with os.scandir(os.path.join(top, rel)) as entries:
                listed = list(entries)
        except PermissionError:
            continue
        for entry in listed:
            name = f"{rel}/{entry.name}" if rel else entry.name
            if entry.is_dir(follow_symlinks=False):
                pending.append(name)
            elif _is_file(entry):
                yield name


def _is_file(entry: os.DirEntry[str]) -> bool:
    """A file, or a link to one; a link that loops (ELOOP) too: it is something pgrender did not
    write, not a reason to stop reading the directory."""
    try:
        return entry.is_file()
    except OSError:
        return True


def file_mode(rel: str) -> int:
    """0600 for a Secret, else 0644. file_name starts a Secret's file with ``secret-`` and no other
    kind's: a kind never holds a hyphen (SealedSecret is ``sealedsecret-``)."""
    return SECRET_FILE_MODE if rel.rpartition("/")[2].startswith("secret-") else FILE_MODE


def write(directory: str | Path, content: Mapping[str, str], several: bool = False) -> None:
    """Replace ``directory`` with exactly ``content``, atomically, leaving unchanged files alone.

    When the directory already holds exactly ``content`` (same owned paths, bytes and modes), nothing
    is touched; when it differs in one file, that file is replaced alone. ``several``: the caller
    found two files or more differing (commands._differing_files), so neither case is looked for.
    Otherwise the new tree is built in a work directory beside it and exchanged into
    place (see the module docstring), so the directory is always either the old complete tree or the
    new one and a failed run leaves the previous output untouched. A file whose bytes did not change
    is hard-linked into the new tree, so it keeps its inode and mtime and editors do not reload it
    (the link count change moves its ctime, so git re-reads it once and finds it unchanged). A
    directory holding files pgrender did not write is refused rather than overwritten.
    """
    shown = Path(directory)
    target = Path(os.path.realpath(shown))
    # Each file's bytes are made when they are compared or written: ``content`` may be spooled.
    wanted = Wanted(content)
    global _last_write
    placed = _Placed()
    _last_write = (str(shown), placed)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _locked(target.parent, shown):
            _recover(target)
            _replace(target, shown, wanted, several, placed)
    except OSError as exc:
        raise OutputError(
            f"{shown}: cannot write: {describe_os_error(exc)}; the output directory is as it was"
        ) from exc


# This process's last write() (a command writes one output), for what Ctrl-C says (commands.interrupted).
_last_write: tuple[str, _Placed] | None = None


def forget() -> None:
    """Let go of the last write(): a command starts (commands.starting)."""
    global _last_write
    _last_write = None


def written_output() -> str | None:
    """The output directory the last write() put in place, as it was given; None when no write put
    one in place (none ran, or it was stopped before). Ctrl-C may come at any point after the kernel
    renamed the new tree into place, before or after the command's next line: what was written is
    told from the file system, never from where the interrupt landed."""
    if _last_write is None or not _last_write[1].done():
        return None
    return _last_write[0]


class _Placed:
    """Whether the new output is in place: the inode of what was staged, found at the output's path."""

    def __init__(self) -> None:
        self.unchanged = False  # the output held the content already: nothing to put in place
        self._staged: tuple[str, int, int] | None = None  # where it goes, its device and inode

    def staged(self, path: str, destination: str) -> None:
        st = os.lstat(path)
        self._staged = (destination, st.st_dev, st.st_ino)

    def done(self) -> bool:
        if self.unchanged:
            return True
        if self._staged is None:
            return False
        destination, device, inode = self._staged
        try:
            st = os.lstat(destination)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == (device, inode)


def _normal(rel: str) -> str:
    """``rel`` as str(Path(rel)) has it; ``rel`` itself when that is the same, so a large output's
    names are held once (a render's own are normal already). Those are told without pathlib,
    which interns each part of a path it makes (see _replace)."""
    plain = "//" not in rel and "/./" not in rel and not rel.startswith("./") and not rel.endswith(("/", "/."))
    if plain and rel not in ("", "."):  # what pathlib changes: empty parts, ".", a trailing "/"
        return rel
    normal = str(Path(rel))
    return rel if normal == rel else normal


class Wanted(Mapping[str, Bytes]):
    """write()'s content by normalized path, as bytes made when asked for. A render's own names are
    normal already: then they are not held again (a fleet's are megabytes), and a spooled text's
    bytes come from its file as they are (SpooledTexts.chunks), not decoded and encoded again, and
    a large one's a piece at a time."""

    def __init__(self, content: Mapping[str, str]) -> None:
        self._content = content
        normal = all(_normal(rel) == rel for rel in content)
        self._names = None if normal else {_normal(rel): rel for rel in content}
        self.iterates_sorted = normal and getattr(content, "iterates_sorted", False)  # record.in_order

    def chunked_items(self) -> Iterator[tuple[str, Bytes]]:
        """Each path and its bytes, in sorted order: a render's own a cluster's files at a time
        (SpooledTexts.chunked_items)."""
        if self._names is None and isinstance(self._content, SpooledTexts):
            return self._content.chunked_items()
        return ((rel, self[rel]) for rel in in_order(self))

    def __getitem__(self, rel: str) -> Bytes:
        given = rel if self._names is None else self._names[rel]
        if isinstance(self._content, SpooledTexts):
            return self._content.chunks(given)
        return self._content[given].encode("utf-8")

    def __contains__(self, rel: object) -> bool:
        return rel in (self._content if self._names is None else self._names)  # without making the bytes

    def __iter__(self) -> Iterator[str]:
        return iter(self._content if self._names is None else self._names)

    def __len__(self) -> int:
        return len(self._content if self._names is None else self._names)


def reading(directory: Path) -> contextlib.AbstractContextManager[None]:
    """Held while ``directory``, a render's output, is read: write() replaces it only between two
    such reads (its lock, shared). Without it, a render writing into the directory meanwhile made a
    file vanish between the listing and the read, and a concurrent render failed."""
    target = Path(os.path.realpath(directory))
    return _locked(target.parent, directory, shared=True)


_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def printable(name: str) -> str:
    """A file name as printed: one with a line break or another control character is quoted with
    its escapes (JSON's), so it cannot start a line of its own (a `::` workflow command in CI's log)."""
    if not _CONTROL.search(name):
        return name
    import json

    return json.dumps(name, ensure_ascii=False)


def describe_os_error(exc: OSError) -> str:
    """``strerror (path)``: what failed, and on which file."""
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    return f"{exc.strerror or exc}" + (f" ({' -> '.join(paths)})" if paths else "")


@contextlib.contextmanager
def _locked(parent: Path, shown: Path, shared: bool = False) -> Iterator[None]:
    """Hold an exclusive flock on ``parent`` (closing the descriptor releases it); ``shared``: a
    shared one, which a reader of the output holds (check.read_output), so that no run replaces
    the output while it is read."""
    import fcntl

    try:
        fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    except PermissionError:
        if not shared:
            raise
        yield  # a parent this user may not list: the output is read as it is, unlocked
        return
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise OutputError(
                        f"{shown}: another pgrender run has been writing into {parent} for {LOCK_TIMEOUT:g} s "
                        "(it holds a lock on the directory); wait for it to finish, or stop it"
                    ) from None
                time.sleep(LOCK_POLL)
            except OSError as exc:
                if exc.errno not in NO_LOCKS:
                    raise
                break
        yield
    finally:
        os.close(fd)


def _leftovers(target: Path) -> list[tuple[Path, Path | None]]:
    """Work directories earlier runs left beside ``target``, each with the old tree it may hold.

    Only names mkdtemp made are matched (eight characters from its alphabet), and only directories.
    """
    name = re.escape(target.name)
    pattern = re.compile(rf"\.{name}\.(?:(?P<work>{WORK_MARK})|(?P<old>old\.))?[a-z0-9_]{{8}}")
    out: list[tuple[Path, Path | None]] = []
    with os.scandir(target.parent) as entries:
        for entry in entries:
            match = pattern.fullmatch(entry.name)
            if match and entry.is_dir(follow_symlinks=False):
                path = Path(entry.path)
                # This version retires into <work>/old; earlier ones into .<name>.old.XXXXXXXX/out.
                retired = path / "old" if match["work"] else path / "out" if match["old"] else None
                out.append((path, retired if retired is not None and retired.is_dir() else None))
    return sorted(out)


def _recover(target: Path) -> None:
    """Put back an output a crash left between two renames, then delete earlier runs' work directories."""
    leftovers = _leftovers(target)
    for _, retired in leftovers:
        if retired is not None and not os.path.lexists(target):
            os.rename(retired, target)
    for work, _ in leftovers:
        _discard(work, target)


def _discard(work: Path, target: Path) -> None:
    """Delete a work directory, unless it holds the only copy of the output (after a failed swap)."""
    import shutil

    if (work / "old").is_dir() and not os.path.lexists(target):
        return
    # The trees first, the .gitignore covering them last: a run killed halfway leaves no Secret unignored.
    for tree in ("new", "old"):
        shutil.rmtree(work / tree, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)


def _replace(target: Path, shown: Path, wanted: Wanted, several: bool, placed: _Placed) -> None:
    import tempfile  # here, not at the top: `render --stdout` starts faster without it

    owned = Names()
    if os.path.lexists(target) and not target.is_dir():
        raise OutputError(f"{shown}: exists and is not a directory")
    if target.is_dir():
        owned = _owned(target, shown)
        same = not several and len(owned) == len(wanted) and all(rel in owned for rel in wanted)
        differing = _differing(target, wanted) if same else None
        if differing == []:
            placed.unchanged = True
            return
        if differing is not None:
            (rel,) = differing
            _replace_one(target, rel, wanted[rel], placed)
            return
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.{WORK_MARK}", dir=target.parent))
    try:
        _create(work / ".gitignore", WORK_IGNORE, FILE_MODE)  # first: before any Secret is in there
        staging = work / "new"
        _mkdir(staging)
        # Paths as strings, not pathlib's: a Path interns each part of its path (sys.intern), and the
        # interpreter's table of interned strings, grown by a fleet's 77000 file names, held 7.7 MB
        # past the write (tracemalloc, 3000 clusters).
        new, old = f"{staging}/", f"{target}/"
        made = {""}  # the directories below staging made so far
        for rel, data in wanted.chunked_items():
            _directories(new, rel.rpartition("/")[0], made)
            _stage(old + rel if rel in owned else None, new + rel, data, file_mode(rel))
        placed.staged(str(staging), str(target))
        if os.path.lexists(target):
            _swap(staging, target, work, shown)
        else:
            os.rename(staging, target)
    finally:
        _discard(work, target)


def _owned(target: Path, shown: Path) -> Names:
    """The files of ``target`` a previous run wrote; OutputError when it holds any other."""
    owned = owned_files(target)
    if (target / RECORD).is_file():
        owned.add(RECORD)  # the record is written with the files it names (no directory: held as it is)
    foreign: list[str] = []
    for rel in files_below(target):
        if rel not in owned:
            foreign.append(rel)
            if len(foreign) > FOREIGN_COUNTED:  # `-o /`, `-o ~`: the walk would read the whole tree first
                break
    if foreign:
        foreign.sort()
        many = "over " if len(foreign) > FOREIGN_COUNTED else ""
        listed = ", ".join(map(printable, foreign[:5])) + (
            f" and {many}{len(foreign) - 5} more" if len(foreign) > 5 else ""
        )
        raise OutputError(
            f"{shown}: holds files pgrender did not write ({listed}); move them or choose another output directory"
        )
    return owned


def _directories(top: str, rel: str, made: set[str]) -> None:
    """Make the directory ``rel`` below ``top`` (a path ending in "/") and those above it, unless
    ``made`` (which gets them) holds them already."""
    if rel in made:
        return
    _directories(top, rel.rpartition("/")[0], made)
    _mkdir(top + rel)
    made.add(rel)


def _differing(target: Path, wanted: Wanted) -> list[str] | None:
    """The one file below ``target`` (which holds the wanted paths, no more) whose bytes or mode are
    not what is wanted, [] for none; None when more differ, or a directory or what is in a file's
    place. Sizes and modes are told from lstat, all before a file is read: when two files differ
    there (a cluster's change usually changes its files' sizes) none is read."""
    top = f"{target}/"
    directories = {""}
    for rel in wanted:
        while (rel := rel.rpartition("/")[0]) and rel not in directories:
            directories.add(rel)
    if not all(_is_dir_with_mode(top + d, DIR_MODE) for d in directories):
        return None
    differing: list[str] = []  # never more than one: a fleet's names are not held in a list
    for rel, data in wanted.chunked_items():
        if not _holds(top + rel, data, file_mode(rel), read=False):
            if differing or not _regular(top + rel):
                return None
            differing.append(rel)
    for rel, data in wanted.chunked_items():
        if rel not in differing and not _holds(top + rel, data, file_mode(rel)):
            differing.append(rel)
            if len(differing) > 1:
                return None
    return differing


def _regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _replace_one(target: Path, rel: str, data: Bytes, placed: _Placed) -> None:
    """Put ``data`` at ``rel`` below ``target`` in one rename, the rest of the tree left as it is:
    when one file is all that changes (say the record, after a spec's comment changed, or after an
    upgrade that renders the same objects), the output is then the old tree or the new one as
    surely as after a swap, and a fleet's tens of thousands of files are neither linked nor deleted.
    The file is made in a work directory beside the output, which a run that dies leaves for the
    next one to delete (_recover), rather than in the output, whose files are all pgrender's."""
    import tempfile

    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.{WORK_MARK}", dir=target.parent))
    try:
        _create(work / ".gitignore", WORK_IGNORE, FILE_MODE)  # first: before any Secret is in there
        made = f"{work}/one"
        _create(made, data, file_mode(rel))
        placed.staged(made, f"{target}/{rel}")
        os.rename(made, f"{target}/{rel}")
    finally:
        _discard(work, target)


def _is_dir_with_mode(path: str, mode: int) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == mode


def _swap(staging: Path, target: Path, work: Path, shown: Path) -> None:
    """Put ``staging`` at ``target`` and the old tree into ``work``: in one step where the system can."""
    if _exchange(staging, target):
        return
    retired = work / "old"
    try:
        os.rename(target, retired)
        os.rename(staging, target)
    except BaseException as exc:  # an OSError, or Ctrl-C (raised once a rename has returned)
        if os.path.lexists(target) or not os.path.lexists(retired):
            raise  # the old tree or the new one is in place, or there was none to move aside
        try:
            os.rename(retired, target)
        except OSError:
            raise OutputError(
                f"{shown}: cannot write: {describe_os_error(exc) if isinstance(exc, OSError) else 'interrupted'}, "
                f"and the previous output could not be put back; it is in {retired}, and the next render puts it back"
            ) from exc
        raise


def _exchange(a: Path, b: Path) -> bool:
    """Swap ``a`` and ``b`` with renameat2(RENAME_EXCHANGE); False where the system cannot."""
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False  # no renameat2 in the C library
    renameat2.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    renameat2.restype = ctypes.c_int
    if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in NO_EXCHANGE:
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def _mkdir(path: str | Path) -> None:
    os.mkdir(path, DIR_MODE)
    os.chmod(path, DIR_MODE)  # exactly DIR_MODE, whatever the umask took away


def _create(path: str | Path, data: Bytes, mode: int) -> None:
    """A new file holding ``data``, created with ``mode`` (the umask can only take bits away)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # exactly ``mode``, whatever the umask took away
        for piece in _pieces(data):
            view = memoryview(piece)
            while view:
                view = view[os.write(fd, view) :]
    except OSError as exc:
        exc.filename = exc.filename or str(path)  # os.write knows only the descriptor; say which file was full
        raise
    finally:
        os.close(fd)


def _holds(path: str, data: Bytes, mode: int, read: bool = True) -> bool:
    """Whether ``path`` is a regular file (not a symlink) with exactly ``data`` and permission bits
    ``mode``; not ``read``: whether it may, as its type, mode and size tell."""
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != mode or st.st_size != len(data):
            return False
        if not read:
            return True
        if isinstance(data, bytes):  # without a file object (record.read_open): most files are a few KB
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                return read_open(fd) == data
            finally:
                os.close(fd)
        with open(path, "rb") as file:  # a large spooled text, a piece at a time
            return all(file.read(len(piece)) == piece for piece in data) and not file.read(1)
    except OSError:
        return False


def _stage(old: str | None, new: str, data: Bytes, mode: int) -> None:
    """Put ``data`` at ``new``: a hard link to ``old`` when that already holds it, else a fresh file.

    The link is checked after it is made, through the staging path, so a file replaced between the
    check and the link can never slip into the new tree with the wrong bytes.
    """
    if old is not None:
        try:
            os.link(old, new, follow_symlinks=False)
        except OSError:
            pass  # EXDEV, EPERM, EMLINK, a file system without hard links, or a vanished file: write a copy
        else:
            if _holds(new, data, mode):
                return
            os.unlink(new)  # only the staging name goes: the old tree keeps the file
    _create(new, data, mode)
