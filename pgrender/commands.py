"""What each command does, without click: cli.py declares the command line (options, help, shell
completion, usage errors) with click and calls these; pgrender.direct parses the usual command lines
itself and calls them too, so a render, a validate or an Argo CD refresh does not import click.

Errors become text here and nowhere else: a PgrenderError is printed (text, JSON or GitHub
annotations) and exits 2; a UsageError (errors.py) is reported with the command's usage by click.
Each command checks its arguments, and raises its UsageErrors, before it prints or writes anything.
"""

from __future__ import annotations

import errno
import io
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from pgrender.errors import PgrenderError, Problem, SpecError, UsageError

if TYPE_CHECKING:
    from pgrender.render import Finished
    from pgrender.validity import Window

MAX_PROBLEMS = 50
EX_SOFTWARE = 70  # sysexits.h: an internal software error


def echo(message: str = "", err: bool = False, nl: bool = True) -> None:
    """A line on standard output (or error, ``err``), flushed at once (as click.echo writes text). A line
    for standard error comes after what standard output holds: where both go to one pipe (pre-commit's,
    CI's log), it would otherwise land in the middle of a diff's line."""
    if err:
        sys.stdout.flush()
    stream = sys.stderr if err else sys.stdout
    stream.write(f"{message}\n" if nl else message)
    stream.flush()


def format_problems(problems: tuple[Problem, ...], fmt: str, level: str = "error") -> str:
    """Text is `file:line:col: path: message`, sorted and capped; json and github for machines.
    Warnings (``level`` "warning") say so: a `warning: ` prefix, a "level" key, ::warning."""
    if fmt == "json":
        extra = {"level": level} if level != "error" else {}
        return json.dumps([{**p.__dict__, **extra} for p in problems], indent=2, sort_keys=True) + "\n"
    lines = []
    prefix = f"{level}: " if level != "error" else ""
    for p in problems[:MAX_PROBLEMS]:
        where = p.file + (f":{p.line}:{p.column}" if p.line else "")
        what = f"{p.path}: {p.message}" if p.path else p.message
        if fmt == "github":
            loc = f"file={_github_property(p.file)}" + (f",line={p.line},col={p.column}" if p.line else "")
            lines.append(f"::{level} {loc}::{_github_escape(what)}")
        else:
            lines.append(f"{prefix}{where}: {what}")
    if len(problems) > MAX_PROBLEMS:
        lines.append(f"... and {len(problems) - MAX_PROBLEMS} more")
    return "\n".join(lines) + "\n"


def _github_escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _warn(warnings: tuple[Problem, ...], fmt: str) -> None:
    """Print what the plans flagged but rendering allows (plan.warnings), on standard error."""
    if warnings:
        echo(format_problems(warnings, fmt, "warning"), err=True, nl=False)


def _fail(exc: PgrenderError, fmt: str) -> None:
    if isinstance(exc, SpecError):
        echo(format_problems(exc.problems, fmt), err=True, nl=False)
    elif fmt == "json":
        echo(json.dumps([{"message": str(exc)}], indent=2), err=True)
    elif fmt == "github":
        echo(f"::error::{_github_escape(str(exc))}", err=True)
    else:
        echo(f"pgrender: {exc}", err=True)
    sys.exit(2)


def _inputs(specs: tuple[str, ...], config_path: str | None) -> tuple[tuple[str, ...], Any]:
    """Spec files from the arguments, else from the repository config; and that config."""
    # The config model is only imported when there is a config: plain `render SPEC` starts faster.
    config = None
    if config_path or Path("pgrender.yaml").is_file():
        from pgrender.config import find_config

        config = find_config(config_path)
    if specs:
        return specs, config
    if config is None:
        raise UsageError("give SPEC files, or run where a pgrender.yaml is (or pass --config)")
    return tuple(config.spec_files()), config


def _request(
    specs: tuple[str, ...], config: Any, key_file: str | None, provider: str | None, namespace: str | None, **extra: Any
) -> Any:
    from pgrender.render import Request

    chosen = provider or (config.config.secrets.provider if config else None)
    if chosen:
        extra["provider"] = chosen
    certificate = extra.pop("sealing_certificate", None)
    if not certificate and config:
        from pgrender import providers

        # Checked only for the provider that reads it: another ignores the file, whatever it is.
        reads = chosen in providers.SECRETS_PROVIDERS and providers.reads_certificate(
            providers.secrets_provider(chosen)
        )
        certificate = config.sealing_certificate(read=reads)
    if certificate:
        extra["sealing_certificate"] = certificate
    key = key_file or (config.key_file() if config else None)
    if config:
        extra["secrets_settings"] = config.config.secrets
        extra["infrastructure_roles"] = config.infrastructure_roles()
    return Request(specs, key, default_namespace=_namespace(namespace, config), **extra)


def _namespace(namespace: str | None, config: Any) -> str | None:
    """One rule for specs without metadata.namespace: --namespace, else pgrender.yaml's."""
    return namespace or (config.config.namespace if config else None)


class _RecordInputs:
    """What a render's record names of its inputs: all but the specs, taken before it renders (their
    shared digest finds the clusters to reuse), and the specs as the render reads them (``read``,
    filled by load.iter_documents: a spec changed and changed back while the render ran is named as
    it was read); and the fingerprint of pgrender's code."""

    def __init__(self, inputs: Any, spec_files: tuple[str, ...], code: str) -> None:
        self.inputs, self.spec_files, self.code = inputs, spec_files, code
        self.read: dict[str, str] = {}

    def digests(self) -> tuple[str, str, str]:
        from pgrender import record

        return self.inputs.digests(record.spec_digests(self.spec_files, self.read))  # type: ignore[no-any-return]


def _record_inputs(
    request: Any, config_path: str | None, config: Any, target: str, provider: Any
) -> tuple[Any, _RecordInputs | None]:
    """What the record of this render names (_RecordInputs), or None when it cannot be taken (a
    spec from standard input, a key from a pipe): then no record is written, and the next run
    renders. With the request, which carries the root key the record names (loaded once: a key
    file changed during the render cannot leave the record naming another key) and where the
    render notes each spec file's digest as it reads it."""
    from pgrender import providers, record
    from pgrender.frozen import replace

    if "-" in request.specs:
        return request, None
    root_key = None
    if provider.needs_root_key:
        from pgrender.errors import RootKeyError
        from pgrender.secrets import keys

        try:
            root_key = keys.load(request.key_file, request.environ)
        except RootKeyError:
            return request, None  # the render says why, after the specs' problems
        request = replace(request, root_key=root_key)
    # The certificate's bytes likewise, read once: sealed for, and named by the record. Only for the
    # provider that seals: another ignores the file, which may be anything (a FIFO would block).
    certificate = os.path.expanduser(request.sealing_certificate) if request.sealing_certificate else None
    if certificate and providers.reads_certificate(provider) and os.path.exists(certificate):
        from pgrender.secrets.sealed import read_certificate

        try:
            request = replace(request, sealing_pem=read_certificate(certificate))
        except OSError:
            return request, None  # the render says why
    try:
        inputs = record.Inputs.of(
            config_path=(config_path or "pgrender.yaml") if config else None,
            config_digest=config.digest if config else None,
            target=target,
            provider=request.provider,
            namespace=request.default_namespace,
            key_file=request.key_file,
            certificate=request.sealing_certificate,
            needs_root_key=provider.needs_root_key,
            environ=os.environ,
            root_key=root_key,
            sealing_pem=request.sealing_pem,
        )
    except record.Unanswered:
        return request, None
    recorded = _RecordInputs(inputs, request.specs, record.code_fingerprint())
    return replace(request, read=recorded.read), recorded


def _reusing(request: Any, target: str | None, inputs: _RecordInputs | None, provider: Any) -> Any:
    """``request`` with the clusters the output directory ``target`` holds current (reuse.py), where
    a record can be made of this render (``inputs``) and the provider does not read the output."""
    from pgrender import providers

    if target is None or inputs is None or providers.reads_previous_output(provider):
        return request
    from pgrender.frozen import replace
    from pgrender.reuse import found

    return replace(request, reuse=found(target, inputs.inputs.shared(), inputs.code))


def _compared(
    request: Any, output: str | None, config_path: str | None, config: Any
) -> tuple[Any, _RecordInputs | None, Any, str]:
    """What check and diff render to compare with the output directory (``output``, else the
    config's): the request with the clusters the output holds current (_reusing), what a record of
    these inputs names, the provider, and the directory as render names it in the record."""
    from pgrender import providers

    provider = providers.secrets_provider(request.provider)
    target = output or str(config.output)
    request, inputs = _record_inputs(request, config_path, config, target, provider)
    return _reusing(request, target, inputs, provider), inputs, provider, target


def _remember_checked(target: str, made: Iterator[str], code: str) -> None:
    """After a full check found the output current: when the output's record is the one a render
    of these inputs writes (``made``), the stat signatures, as a render saves them
    (record.remember_written), so that the next check is answered from the record. A check never
    wrote them: after an upgrade, or in a fresh clone, every check rendered until a render wrote."""
    import hashlib

    from pgrender import record

    digest = hashlib.sha256()
    for _ in _hashed(made, digest):
        pass
    record.remember_written(target, code, digest.hexdigest())


def _hashed(pieces: Iterable[str], digest: Any) -> Iterator[str]:
    """``pieces``, each added to ``digest`` (UTF-8) as it goes by: the record's digest, made as the
    record is, without holding it."""
    for piece in pieces:
        digest.update(piece.encode())
        yield piece


def _record(
    inputs: Any,
    config: Any,
    provider: Any,
    clusters: Finished,
    warnings: tuple[Problem, ...],
    content: Mapping[str, str],
) -> Iterator[str]:
    """The record of this render (in pieces: record.make): its inputs, what it printed, and the files it wrote."""
    from pgrender import record, write

    settings = None
    if config is not None:
        settings = {
            "root": str(config.root),
            "output": str(config.root / config.config.output),  # as written: -o may name the output
            "specs": list(config.config.specs),
            "provider": config.config.secrets.provider,
            # As written: the fast path resolves them as config.LoadedConfig does, with its own HOME.
            "key_file": config.config.secrets.key_file,
            "certificate": config.config.secrets.sealed.certificate if config.config.secrets.sealed else None,
            "namespace": config.config.namespace,
        }
    return record.make(
        inputs=inputs,
        config=settings,
        provider={"needs_root_key": provider.needs_root_key, "writes_plaintext": provider.writes_plaintext},
        clusters=len(clusters),
        warnings=format_problems(warnings, "text", "warning") if warnings else "",
        windows=clusters.windows,
        directories=lambda: (
            (d, at) for d, at in zip(clusters.spec_digests(), write.directories(clusters), strict=True) if d
        ),
        files=content,
        mode=write.file_mode,
    )


def _warn_validity(windows: Iterable[Window]) -> None:
    """Certificates expired, not yet valid or near their end: the same warnings in every command.
    Only the warnings read the clock; what is rendered never does."""
    from pgrender.validity import window_warnings

    for warning in window_warnings(windows):
        echo(f"warning: {warning}", err=True)


def _guard(directory: Path, content: Mapping[str, str], previous: Mapping[str, str] | None) -> Mapping[str, str]:
    """Refuse (ChangeRefusedError) what no running cluster survives; return what ``directory`` held
    (``previous``, when it was read already)."""
    from pgrender.changes import guard

    if previous is None:
        previous = _read_output(directory, "cannot write")
    if previous:
        guard(previous, content)
    return previous


def _differing_files(previous: Mapping[str, str], content: Mapping[str, str]) -> int:
    """How many files of ``content`` differ from the output the guard read (``previous``): 0, 1, or
    2 for two or more. Where two or more differ (the caller counts the record), the write stages the
    whole tree without first looking for the one file that differs, which reads each file whose size
    is the same. Only ever a shortcut: the output may have changed since it was read, and the write
    replaces it whole either way."""
    from itertools import islice

    from pgrender.record import differing

    return sum(1 for _ in islice(differing(previous, content), 2))


def _read_output(directory: Path, failure: str) -> Mapping[str, str]:
    from pgrender.check import read_output

    return read_output(directory, failure)


def _replaced(request: Any, directory: Path | None, failure: str) -> tuple[Any, Mapping[str, str] | None]:
    """The output ``directory`` holds, which the render replaces (or checks), and the request that
    carries it, when the provider keeps from it (sealed: its ciphertexts): read before the render.
    For any other provider, None: the guard reads it once the render is done, so a large output's
    index and the render's own state (the names every cluster claims) are not held at once."""
    from pgrender import providers
    from pgrender.frozen import replace

    if directory is None or not providers.reads_previous_output(providers.secrets_provider(request.provider)):
        return request, None
    earlier = _read_output(directory, failure)
    return replace(request, previous=earlier), earlier


def _previous(directory: Path) -> Mapping[str, str]:
    """--previous DIR: earlier output to keep ciphertexts from; it must hold some."""
    files = _read_output(directory, "cannot read")
    if not files:
        raise PgrenderError(f"--previous {directory}: holds no rendered output (no kustomization.yaml listing files)")
    return files


def _changes(old: Mapping[str, str], new: Mapping[str, str], acknowledge: tuple[str, ...] = ()) -> Any:
    from pgrender.changes import changes

    return changes(old, new, acknowledge)


def format_changes(findings: tuple[Any, ...], fmt: str, bases: dict[str, Path]) -> str:
    """Findings as text (in class order, so grouped by class) or GitHub annotations, one a line.

    ``bases[""]`` is the directory the findings' files are named in (GitHub's file=); ``bases["old"]``
    the old rendering's, for an object no longer rendered (else ``bases[""]``: the same directory).
    """
    lines = []
    for f in findings:
        what = f"{f.object} {f.path}".rstrip()
        tag = f" [{f.id}{', acknowledged' if f.acknowledged else ''}]" if f.id else ""
        if fmt == "github":
            level = (
                "error"
                if f.blocking
                else "warning"
                if f.change.value in ("restart", "manual", "refused", "risk")
                else "notice"
            )
            base = bases.get("old", bases.get("", Path("."))) if f.old_file else bases.get("", Path("."))
            where = f" file={_github_property(str(base / f.file))}" if f.file else ""
            title = f"title={_github_property(f.change.value + (': ' + f.id if f.id else ''))}"
            lines.append(f"::{level}{where},{title}::{_github_escape(f'{what}: {f.message}{tag}')}")
        else:
            lines.append(f"{f.change.value}: {what}: {f.message}{tag}")
    return "".join(f"{line}\n" for line in lines)


def _github_property(text: str) -> str:
    """A property of a workflow command (file=, title=): ":" and "," end one, so they are escaped too."""
    return _github_escape(text).replace(":", "%3A").replace(",", "%2C")


def _summary(findings: tuple[Any, ...]) -> str:
    from pgrender.changes import CLASS_ORDER

    if not findings:
        return "no changes"
    counts = [f"{sum(1 for f in findings if f.change == c)} {c.value}" for c in CLASS_ORDER]
    blocking = sum(1 for f in findings if f.blocking)
    text = f"{len(findings)} change(s): " + ", ".join(c for c in counts if not c.startswith("0 "))
    if blocking:
        text += (
            f"; {blocking} refused or risky and not acknowledged: add each id to spec.acknowledgedChanges "
            "(or pass --acknowledge ID) once you mean it"
        )
    return text


def _rendered(directory: Path) -> Mapping[str, str]:
    from pgrender.check import read_output

    files = read_output(directory)
    if not files:
        raise PgrenderError(f"{directory}: holds no rendered output (no kustomization.yaml listing files)")
    return files


def _revisions(
    paths: tuple[str, ...], revs: tuple[str, ...], output: str | None, config_path: str | None
) -> tuple[Mapping[str, str], Mapping[str, str], dict[str, Path]]:
    """The output directory at the first revision, and at the second or in the work tree."""
    from pgrender.config import find_config
    from pgrender.revisions import read_revision

    if paths:
        raise UsageError("--rev compares the output directory at revisions; give no OLD NEW or SPEC")
    if len(revs) > 2:
        raise UsageError("give --rev once (against the work tree) or twice")
    if output:
        directory = Path(output)
    else:
        config = find_config(config_path)
        if config is None:
            raise UsageError("--rev needs -o/--output DIR or a pgrender.yaml naming the output directory")
        directory = config.output
    old = read_revision(directory, revs[0])
    new = read_revision(directory, revs[1]) if len(revs) == 2 else _rendered(directory)
    return old, new, {"": directory}


def _convert_targets(output: Path, as_directory: bool, result: Any, operator: str) -> dict[Path, str]:
    from pgrender.convert import engine

    if as_directory or output.is_dir():
        return {
            output / name: engine.to_yaml(c, operator)
            for name, c in zip(engine.file_names(result), result.clusters, strict=True)
        }
    return {output: engine.stream(result, operator)}


def _print_notes(notes: tuple[Any, ...], fmt: str) -> None:
    """What happened to each field: text and GitHub annotations one a line, JSON as one list."""
    if fmt == "json":
        echo(json.dumps([n.as_json() for n in notes], indent=2), err=True)
        return
    for n in notes:
        if fmt == "github":
            level = "warning" if n.counts else "notice"
            loc = f"file={_github_property(n.file)}" + (f",line={n.line},col={n.column}" if n.line else "")
            echo(f"::{level} {loc}::{_github_escape(f'{n.path}: {n.kind}: {n.message}')}", err=True)
        else:
            echo(format_problems((n.as_problem(),), "text"), err=True, nl=False)


def _utf8_streams() -> None:
    """Write UTF-8 whatever the locale says.

    Rendered YAML and diffs are bytes that other tools compare and apply: under LC_ALL=C Python's
    streams are ASCII (the first non-ASCII annotation fails the render), under an EUC-JP locale they
    write other bytes. Output keeps surrogateescape, so a file name that is not UTF-8 comes out as
    the bytes it was read as; messages use backslashreplace, so reporting a problem never fails.
    """
    for stream, errors in ((sys.stdout, "surrogateescape"), (sys.stderr, "backslashreplace")):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(encoding="utf-8", errors=errors)
    # A stream the caller closed (`>&-`) is None in Python: writing to it was an AttributeError.
    if sys.stdout is None:
        sys.stdout = _ClosedStdout()
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the process's life; there is nowhere to say more


class _ClosedStdout(io.TextIOBase):
    """Standard output closed by the caller: a command that prints fails as a user's error would
    (exit 2, nothing written elsewhere); one that prints nothing runs as usual."""

    def write(self, text: str) -> int:
        raise PgrenderError("cannot write to standard output: it is closed (>&-)")

    def flush(self) -> None:
        pass


def render(
    specs: tuple[str, ...],
    output: str | None,
    to_stdout: bool,
    write_config: bool,
    only_secrets: bool,
    exit_code: bool,
    allow_secrets_in_git: bool,
    previous_dir: str | None,
    key_file: str | None,
    secrets_provider: str | None,
    sealing_certificate: str | None,
    namespace: str | None,
    config_path: str | None,
    fmt: str,
) -> None:
    from pgrender import providers, write
    from pgrender.render import stream

    if sum(map(bool, (output, to_stdout, write_config))) != 1:
        raise UsageError("give exactly one of -o/--output DIR, --write or --stdout")
    if only_secrets and not to_stdout:
        raise UsageError("--only-secrets writes to --stdout only: Secrets never go to a directory")
    if exit_code and to_stdout:
        raise UsageError("--exit-code compares with an output directory: use it with -o or --write")
    try:
        spec_files, config = _inputs(specs, config_path)
        target = output
        if write_config:
            if config is None:
                raise UsageError("--write needs a pgrender.yaml (or --config)")
            target = str(config.output)
        request = _request(
            spec_files,
            config,
            key_file,
            secrets_provider,
            namespace,
            only_secrets=only_secrets,
            sealing_certificate=sealing_certificate,
            previous=_previous(Path(previous_dir)) if previous_dir else None,
        )
        provider = providers.secrets_provider(request.provider)
        request, earlier = _replaced(request, Path(target) if target and not previous_dir else None, "cannot write")
        if target and provider.writes_plaintext and not allow_secrets_in_git:
            from pgrender.gitcheck import refuse_plaintext_in_git  # runs git: not for --stdout

            refuse_plaintext_in_git(Path(target))
        # The record names each input as the render reads it (_RecordInputs): one changing meanwhile is seen.
        inputs: _RecordInputs | None = None
        if target and not previous_dir:
            request, inputs = _record_inputs(request, config_path, config, target, provider)
        request = _reusing(request, target, inputs, provider)
        warnings: list[Problem] = []
        if to_stdout:
            spooled, done = write.spool(stream(request, warnings))
            _warn(tuple(sorted(warnings)), fmt)
            _warn_validity(done.windows())
            write.copy(spooled, sys.stdout)
            return
        assert target is not None
        content, done = write.collect(stream(request, warnings))
        _warn(tuple(sorted(warnings)), fmt)
        _warn_validity(done.windows())
        previous = _guard(Path(target), content, earlier)
        del earlier, request
        staleness = None
        if exit_code:
            from pgrender.check import compare

            staleness = compare(content, Path(target), previous=previous)
        differing = _differing_files(previous, content)
        # The previous output (and, for provider sealed, the request holding it) is not needed past
        # the guard and the comparison: a large output's names are megabytes, let go before the write's own.
        del previous
        written = len(content)  # the rendered files: the record is not counted
        from pgrender import record

        # The record is a file of the output too, committed with it: one created, changed or removed
        # alone (a new pgrender release, a comment in a spec, no record yet) is a change to add.
        record_path = os.path.join(target, record.RECORD)
        record_before = record.written_digest(record_path) if exit_code else None
        record_after = None
        if inputs is None:
            write.write(target, content, several=differing > 1)
        else:
            import hashlib

            digest = hashlib.sha256()
            made = _record(inputs.digests(), config, provider, done, tuple(sorted(warnings)), content)
            content.add(record.RECORD, _hashed(made, digest))
            record_after = digest.hexdigest()
            # A file and the record that lists it are two (the record is the same where the file was
            # edited by hand): read only when one file differs.
            several = differing > 1 or (
                differing == 1 and (record_before if exit_code else record.written_digest(record_path)) != record_after
            )
            write.write(target, content, several)
            record.remember_written(target, inputs.code, record_after)
        record_changed = exit_code and record_before != record_after
    except PgrenderError as exc:
        _fail(exc, fmt)
    changed = staleness is not None and staleness.stale
    echo(f"wrote {written} files to {target}" + (" (changed)" if changed or record_changed else ""), err=True)
    if staleness is not None and changed:
        # What a pre-commit hook's user must do next: pre-commit stashes untracked files, so new ones
        # must be added before the commit can pass.
        echo(
            f"the rendered output changed ({len(staleness.missing)} created, {len(staleness.changed)} changed, "
            f"{len(staleness.obsolete)} removed): review it, `git add {target}` (new files too), and commit again",
            err=True,
        )
    elif record_changed:
        how = "was removed" if record_after is None else "changed"
        echo(f"the output's record {how}, no other file: `git add {target}` and commit again", err=True)
    sys.exit(1 if changed or record_changed else 0)


def validate(specs: tuple[str, ...], namespace: str | None, config_path: str | None, fmt: str) -> None:
    from pgrender.plans import plans
    from pgrender.validity import certificate_windows

    # A plan at a time, keeping what is printed at the end: a fleet's plans held at once took
    # 25 KB a cluster (3000 clusters: 106 MB, against 32 MB for 300).
    warnings: list[Problem] = []
    windows: list[Window] = []
    valid = 0
    try:
        spec_files, config = _inputs(specs, config_path)
        from pgrender import trusted_sources

        roles = config.infrastructure_roles() if config else ()
        trusted = trusted_sources.trusted(os.environ)
        for plan in plans(spec_files, _namespace(namespace, config), roles, trusted=trusted):
            warnings.extend(plan.warnings)
            windows.extend(certificate_windows(plan))
            valid += 1
    except PgrenderError as exc:
        _fail(exc, fmt)
    _warn(tuple(sorted(warnings)), fmt)
    if fmt == "json":
        echo("[]")
    elif fmt == "text":
        _warn_validity(windows)
        echo(f"{valid} cluster(s) valid", err=True)


def check(
    specs: tuple[str, ...],
    output: str | None,
    key_file: str | None,
    secrets_provider: str | None,
    sealing_certificate: str | None,
    namespace: str | None,
    config_path: str | None,
    fmt: str,
) -> None:
    from pgrender import write
    from pgrender.check import compare
    from pgrender.render import stream

    try:
        spec_files, config = _inputs(specs, config_path)
        if not output and config is None:
            raise UsageError("give -o/--output DIR or a pgrender.yaml")
        directory: Path = Path(output) if output else config.output
        request = _request(
            spec_files, config, key_file, secrets_provider, namespace, sealing_certificate=sealing_certificate
        )
        request, earlier = _replaced(request, directory, "cannot check")
        request, inputs, provider, target = _compared(request, output, config_path, config)
        warnings: list[Problem] = []
        expected, done = write.collect(stream(request, warnings))
        _warn(tuple(sorted(warnings)), fmt)
        _warn_validity(done.windows())
        previous = _read_output(directory, "cannot check") if earlier is None else earlier
        # Every change, classified once: what refuses the check is what its report shows.
        found = _changes(previous, expected) if previous else None
        if found is not None:
            from pgrender.changes import refuse

            refuse(found)
        diff = write.TextSpool()  # shown once the check is done: a fleet's is hundreds of megabytes
        staleness = compare(expected, directory, None if fmt == "json" else diff.write, previous)
        found = found if staleness.stale else None
        if inputs is not None and not staleness.stale:
            _remember_checked(
                target,
                _record(inputs.digests(), config, provider, done, tuple(sorted(warnings)), expected),
                inputs.code,
            )
    except PgrenderError as exc:
        _fail(exc, fmt)
    if fmt == "json":
        echo(
            json.dumps(
                {
                    "directory": str(directory),
                    "stale": staleness.stale,
                    "changed": list(staleness.changed),
                    "missing": list(staleness.missing),
                    "obsolete": list(staleness.obsolete),
                    "changes": [f.as_json() for f in found.findings] if found else [],
                },
                indent=2,
            )
        )
    else:
        write.copy(diff.rewound(), sys.stdout)
        if fmt == "github":
            for name in (*staleness.changed, *staleness.missing, *staleness.obsolete):
                where = _github_property(str(directory / name))
                echo(f"::error file={where}::rendered output is stale; run pgrender render --write")
        if found:
            # What the stale output means for the running cluster: after the diff, on the same stream.
            sys.stdout.write(format_changes(found.findings, fmt, {"": directory}))
        echo(staleness.summary(directory), err=True)
    sys.exit(1 if staleness.stale else 0)


def diff(
    paths: tuple[str, ...],
    revs: tuple[str, ...],
    output: str | None,
    acknowledge: tuple[str, ...],
    key_file: str | None,
    secrets_provider: str | None,
    sealing_certificate: str | None,
    namespace: str | None,
    config_path: str | None,
    fmt: str,
) -> None:
    from pgrender.check import read_output

    try:
        if revs:
            old, new, bases = _revisions(paths, revs, output, config_path)
        elif len(paths) == 2 and all(Path(p).is_dir() for p in paths):
            old, new = _rendered(Path(paths[0])), _rendered(Path(paths[1]))
            bases = {"": Path(paths[1]), "old": Path(paths[0])}
        else:
            if any(Path(p).is_dir() for p in paths):
                missing = [p for p in paths if not Path(p).is_dir()]
                if len(paths) == 2:
                    what = "not a directory" if Path(missing[0]).exists() else "no such directory"
                    raise PgrenderError(f"{missing[0]}: {what} (OLD and NEW are rendered directories)")
                raise UsageError("give two rendered directories OLD NEW, or spec files (with -o DIR)")
            from pgrender import write
            from pgrender.render import stream

            spec_files, config = _inputs(paths, config_path)
            if not output and config is None:
                raise UsageError("give -o/--output DIR or a pgrender.yaml")
            directory: Path = Path(output) if output else config.output
            old = read_output(directory)
            if not old:
                raise PgrenderError(f"{directory}: holds no rendered output to compare with; run pgrender render first")
            request = _request(
                spec_files,
                config,
                key_file,
                secrets_provider,
                namespace,
                sealing_certificate=sealing_certificate,
                previous=old,
            )
            # As check does: the clusters whose specs are unchanged are taken from the output (they
            # cannot differ from it), and the render is spooled a cluster at a time.
            request = _compared(request, output, config_path, config)[0]
            warnings: list[Problem] = []
            new, done = write.collect(stream(request, warnings))
            _warn(tuple(sorted(warnings)), fmt)  # as render and check print them
            _warn_validity(done.windows())
            bases = {"": directory}
        found = _changes(old, new, acknowledge)
    except PgrenderError as exc:
        _fail(exc, fmt)
    if fmt == "json":
        echo(json.dumps({"findings": [f.as_json() for f in found.findings], "exit": found.exit_code}, indent=2))
    else:
        sys.stdout.write(format_changes(found.findings, fmt, bases))
        echo(_summary(found.findings), err=True)
    sys.exit(found.exit_code)


def lint(
    paths: tuple[str, ...], kubernetes_version: str | None, use_kubeconform: bool, config_path: str | None, fmt: str
) -> None:
    from pgrender.config import DEFAULT_KUBERNETES_VERSION, find_config
    from pgrender.lint import kubeconform, lint, parse_kubernetes_version

    try:
        config = find_config(config_path)
        targets = [Path(p) for p in paths] or ([config.output] if config else [])
        if not targets:
            raise UsageError("give PATHS, or run where a pgrender.yaml is")
        version = kubernetes_version or (config.config.kubernetes_version if config else DEFAULT_KUBERNETES_VERSION)
        version = parse_kubernetes_version(version)
        result = lint(targets, version)
        external = kubeconform(targets, version) if use_kubeconform else None
    except PgrenderError as exc:
        _fail(exc, fmt)
    if result.problems:
        echo(format_problems(result.problems, fmt), err=fmt != "json", nl=False)
    elif fmt == "json":
        echo("[]")
    if external is not None:
        sys.stderr.write(external.stdout + external.stderr)
    echo(
        f"{result.objects} objects in {result.files} files, {len(result.problems)} problems "
        f"(Kubernetes {version}, strict)",
        err=True,
    )
    sys.exit(1 if result.problems or (external is not None and external.returncode != 0) else 0)


def convert(
    files: tuple[str, ...],
    operator: str,
    output: str | None,
    namespace: str | None,
    force: bool,
    strict: bool,
    fmt: str,
) -> None:
    from pgrender import load
    from pgrender.convert import converter, engine
    from pgrender.spec.rules.base import check_dns_label

    try:
        check_dns_label(namespace or "x")  # the option, not the input: a usage error, before anything is read
    except ValueError as exc:
        raise UsageError(f"--namespace: {exc}") from None
    try:
        documents: list[load.Document] = []
        problems: list[Problem] = []
        documents += load.iter_documents(list(files), problems)
        if problems:
            raise SpecError(problems)
        result = engine.convert(documents, operator, namespace)
        _print_notes(result.notes, fmt)
        if not result.clusters:
            kind = converter(operator).cluster_kind
            raise PgrenderError(f"no {kind} in {', '.join(files)}: nothing to convert (--from {operator})")
        changed = sum(1 for n in result.notes if n.counts)
        if strict and changed:
            raise PgrenderError(
                f"--strict: nothing written, as {changed} field(s) would be left out or changed (above)"
            )
        where = "standard output"
        if output is None:
            sys.stdout.write(engine.stream(result, operator))
        else:
            targets = _convert_targets(Path(output), output.endswith("/"), result, operator)
            engine.write_files(targets, force)
            where = ", ".join(str(p) for p in targets)
    except PgrenderError as exc:
        _fail(exc, fmt)
    if fmt == "text":
        summary = f"{changed} field(s) left out or changed, listed above" if changed else "every field carried over"
        echo(f"converted {len(result.clusters)} cluster(s) to {where}: {summary}", err=True)
    sys.exit(result.exit_code)


def cmp_generate() -> None:
    import os

    from pgrender import cmp, providers, trusted_sources, write
    from pgrender.config import default_config, find_config
    from pgrender.frozen import replace
    from pgrender.render import stream

    try:
        env = dict(os.environ)
        found = cmp.settings(env)
        config = find_config(None) or default_config(Path("."))
        spec_files = tuple(config.spec_files())
        # sealed keeps the ciphertexts of the committed output, when the repository holds it; the
        # other providers never look at it, so it is not read for them (a large output, each refresh)
        keeps = providers.reads_previous_output(
            providers.secrets_provider(found.provider or config.config.secrets.provider)
        )
        request = _request(
            spec_files,
            config,
            None,
            found.provider,
            found.namespace,  # Argo CD's destination, else pgrender.yaml's
            previous=_read_output(config.output, "cannot read") if keeps else None,
        )
        # The root key is the plugin's, never the repository's: with secrets.keyFile naming a key
        # committed beside the specs, whoever can push would know every password the cluster gets.
        key_file = found.key_file or (None if env.get("PGRENDER_KEY") else cmp.DEFAULT_KEY_FILE)
        if key_file is not None and _inside(key_file, os.getcwd()):
            from pgrender.secrets import keys

            raise PgrenderError(
                f"{keys.named(key_file)}: the plugin's root key is in the application's checkout; mount it from a "
                f"Secret outside it ({cmp.DEFAULT_KEY_FILE}): a key committed beside the specs gives every password "
                "away"
            )
        request = replace(request, key_file=key_file, pinned_namespace=trusted_sources.pinned(env, found.namespace))
        if config.config.secrets.key_file:
            echo(f"pgrender: {config.path}: secrets.keyFile is not used by the plugin ({cmp.KEY_SOURCES})", err=True)
        warnings: list[Problem] = []
        spooled, done = write.spool(stream(request, warnings))
        _warn(tuple(sorted(warnings)), "text")
        _warn_validity(done.windows())
        if not spooled.read(1):
            raise PgrenderError("nothing rendered; refusing to hand Argo CD an empty manifest set")
        spooled.seek(0)
    except PgrenderError as exc:
        _fail(exc, "text")
    except UsageError as exc:
        _fail(PgrenderError(exc.message), "text")
    write.copy(spooled, sys.stdout)
    echo(f"pgrender: rendered {len(spec_files)} spec file(s)", err=True)


def _inside(path: str, directory: str) -> bool:
    """Whether ``path`` (relative ones from the working directory) is below ``directory``, links resolved."""
    real, top = os.path.realpath(path), os.path.realpath(directory)
    return real == top or real.startswith(top.rstrip("/") + "/")


def cmp_parameters() -> None:
    from pgrender import cmp

    echo(json.dumps(list(cmp.PARAMETERS), indent=2))


def explain(field: str, of_config: bool) -> None:
    from pgrender.explain import explain

    try:
        text = explain(field, config=of_config)
    except PgrenderError as exc:
        _fail(exc, "text")
    sys.stdout.write(text)


def schema(output: str, print_path: bool) -> None:
    from pgrender.schema import PACKAGED, write_schemas

    if print_path:
        echo(str(PACKAGED))
        return
    for path in write_schemas(Path(output)):
        echo(f"wrote {path}", err=True)


def keygen(output: str | None) -> None:
    from pgrender.secrets import keys

    key = keys.generate()
    if output is None:
        echo(key)
        return
    try:
        keys.write_new(Path(output), key)
    except PgrenderError as exc:
        _fail(exc, "text")
    echo(f"wrote a new root key to {output}; keep it out of git", err=True)


# errnos of a disk with no room: the temporary files a render spools to (write.TextSpool, spill) are
# the machine's to make room for, not a bug (the output's own writes say so as OutputError).
NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
ROOM_LEFT = 64 * 1024 * 1024  # free in the temporary directory: a full disk was another's


def internal_error() -> NoReturn:
    """An exception that is not a user's mistake, reported as a bug: its traceback, and exit 70. But
    no room for a temporary file is the machine's: said so, exit 2 (nothing was written)."""
    import traceback

    exc = sys.exc_info()[1]
    if isinstance(exc, OSError) and exc.errno in NO_ROOM:
        import shutil
        import tempfile

        temporary = tempfile.gettempdir()
        if exc.errno == errno.ENOSPC and shutil.disk_usage(temporary).free >= ROOM_LEFT:
            # Not the temporary files, then (the output's own writes say so as OutputError): what
            # standard output goes to (`> file` on a full disk, /dev/full).
            echo(f"pgrender: cannot write to standard output: {exc.strerror}", err=True)
            sys.exit(2)
        echo(
            f"pgrender: cannot write a temporary file in {temporary}: {exc.strerror}; make room "
            "there, or set TMPDIR to a directory with room (nothing was written)",
            err=True,
        )
        sys.exit(2)
    traceback.print_exc()
    echo(
        "pgrender: internal error: this is a bug in pgrender, not a problem with your input; "
        "please report it with the traceback above",
        err=True,
    )
    sys.exit(EX_SOFTWARE)


def starting() -> None:
    """A command starts: what a Ctrl-C during it says (interrupted) is of its own write, not of one
    an earlier command of this process made (tests run many in one process)."""
    write = sys.modules.get("pgrender.write")  # not imported: nothing was written
    if write is not None:
        write.forget()


def interrupted() -> NoReturn:
    """Ctrl-C: "Aborted!" as click says it, exit 1; or, once the new output is in place (while the
    previous tree is deleted, the stat cache saved or the summary printed), that it was written:
    "Aborted!" would say nothing was. What was left is the next run's to finish: it deletes the work
    directory (write._recover), and reads what the stat cache would have spared it."""
    write = sys.modules.get("pgrender.write")  # not imported: nothing was written
    output = write.written_output() if write is not None else None
    echo(err=True)
    if output is None:
        echo("Aborted!", err=True)
    else:
        echo(
            f"pgrender: interrupted after the output was written: {output} holds this render's files in full "
            "(the next run deletes what was left beside it)",
            err=True,
        )
    sys.exit(1)


def broken_pipe() -> NoReturn:
    """Called for a BrokenPipeError: when standard output's reader is gone (``| head``), stop
    quietly with status 1, as Python's documentation has it (what was cut off is the reader's
    choice); a broken pipe anywhere else is a bug."""
    if not _reader_gone(sys.stdout):
        internal_error()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # the flush at exit must not fail again
    sys.exit(1)


def _reader_gone(stream: Any) -> bool:
    """Whether ``stream`` is a pipe whose reading end is closed (poll tells it by POLLERR)."""
    import select

    try:
        polled = select.poll()
        polled.register(stream.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in polled.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def leave(run: Callable[[], object]) -> NoReturn:
    """Run a command line, then leave without tearing the interpreter down.

    Freeing every module and pydantic schema at exit takes longer than rendering a cluster
    (about 15 ms); mypy leaves the same way. Output is flushed first.
    """
    _utf8_streams()
    try:
        run()
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        sys.exit(code)  # let the interpreter report a closed pipe its usual way
    except KeyboardInterrupt:  # what was printed may be cut short: not the command's status
        interrupted()
    os._exit(code or 0)
