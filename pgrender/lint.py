"""Schema validation of rendered output: kubernetes-validate in process, kubeconform when asked."""

from __future__ import annotations

import base64
import binascii
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from pgrender import __version__, load, overlay_guard
from pgrender.errors import PgrenderError, Problem, SpecError
from pgrender.frozen import frozen

SKIPPED_KINDS = frozenset({"Kustomization"})
OLDEST_MINOR = 25  # the oldest schemas kubernetes-validate ships
# pgrender is on no package index: a release is installed from its git tag (README, "Installing a release").
LINT_EXTRA = 'pip install "pgrender[lint] @ git+<your mirror of pgrender>@v{version}" (README, "Installing a release")'


@frozen
class LintResult:
    files: int
    objects: int
    problems: tuple[Problem, ...]


def _kubernetes_validate() -> Any:
    """The kubernetes_validate module; PgrenderError (exit 2) naming the extra to install when it is missing.

    It comes with the `lint` extra only: its bundled schemas are large, and no other command needs them.
    """
    try:
        import kubernetes_validate
    except ImportError as exc:
        raise PgrenderError(
            f"lint needs kubernetes-validate (the lint extra): {exc}; "
            f"install it: {LINT_EXTRA.format(version=__version__)}"
        ) from None
    return kubernetes_validate


def parse_kubernetes_version(text: str) -> str:
    """1.MINOR[.PATCH] within what kubernetes-validate bundles; PgrenderError (exit 2) otherwise."""
    kubernetes_validate = _kubernetes_validate()
    parts = text.removeprefix("v").split(".")
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts) or parts[0] != "1":
        raise PgrenderError(
            f"--kubernetes-version: {text!r} is not a Kubernetes version; expected 1.MINOR such as 1.30"
        )
    minor = int(parts[1])
    newest = int(kubernetes_validate.latest_version().split(".")[1])
    if not OLDEST_MINOR <= minor <= newest:
        raise PgrenderError(f"--kubernetes-version {text}: schemas are bundled for 1.{OLDEST_MINOR} to 1.{newest} only")
    return f"1.{minor}"


def yaml_files(paths: list[Path]) -> list[Path]:
    """The files to lint: those named, and the YAML files below a directory named, links included
    (_documents reads none through a link) but no linked directory entered."""
    from pgrender.write import files_below

    out: list[Path] = []
    for path in paths:
        if str(path) == "-":
            out.append(path)
        elif path.is_dir():
            out.extend(sorted(path / rel for rel in files_below(path) if rel.endswith((".yaml", ".yml"))))
        elif path.is_file():
            out.append(path)
        else:
            raise PgrenderError(f"{path}: no such file or directory")
    return out


def lint(paths: list[Path], version: str) -> LintResult:
    """Validate every object strictly (unknown fields are errors) against ``version``'s schemas, and
    refuse output an overlay renamed or moved (overlay_guard)."""
    kubernetes_validate = _kubernetes_validate()
    problems: list[Problem] = []
    files = yaml_files(paths)
    count = 0
    seen: list[overlay_guard.Seen] = []
    for path in files:
        for index, document in enumerate(_documents(path)):
            obj = document.data
            if not isinstance(obj, dict) or (isinstance(obj.get("kind"), str) and obj["kind"] in SKIPPED_KINDS):
                continue
            count += 1
            ident = _ident(obj, index)
            shape = _not_an_object(obj)
            if shape is not None:
                field, message = shape
                problems.append(Problem(str(path), *document.position((field,)), f"{ident}.{field}", message))
                continue
            seen.append(overlay_guard.Seen(str(path), ident, obj, document.position))
            try:
                validate_object(obj, version)
            except kubernetes_validate.ValidationError as exc:
                where = ".".join(str(p) for p in exc.path)
                message = _value_free(exc) if _may_show_secret_data(obj, tuple(exc.path)) else exc.message
                at = document.position((*exc.path, *_unexpected(exc)))
                problems.append(Problem(str(path), *at, f"{ident}{'.' + where if where else ''}", message))
            except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.utils.VersionNotSupportedError):
                message = f"no schema for {obj['apiVersion']} {obj['kind']} in Kubernetes {version}"
                problems.append(Problem(str(path), *document.position(("kind",)), ident, message))
            else:
                for data_key in _not_base64(obj):
                    message = "not valid base64, which the API server refuses (Secret data is not shown)"
                    where = f"{ident}.{'.'.join(data_key)}"
                    problems.append(Problem(str(path), *document.position(data_key), where, message))
    problems += overlay_guard.renamed(seen)
    return LintResult(len(files), count, tuple(problems))


def validate_object(obj: dict[str, Any], version: str) -> None:
    """Validate one object strictly: Kubernetes' own kinds by kubernetes-validate, the custom kinds pgrender
    writes by their bundled CRD schemas (pgrender.crds); kubernetes-validate's errors either way."""
    from pgrender import crds

    kubernetes_validate = _kubernetes_validate()

    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    custom = (
        crds.validator(api_version, kind, version) if isinstance(api_version, str) and isinstance(kind, str) else None
    )
    if custom is None:
        kubernetes_validate.validate(obj, version, strict=True)
        return
    error = _first_error(custom, obj)
    if error is not None:
        raise kubernetes_validate.ValidationError(error, version)


def _first_error(validator: Any, obj: dict[str, Any]) -> Any:
    """The error jsonschema's validate() would raise (its best_match), or None."""
    import jsonschema

    return jsonschema.exceptions.best_match(validator.iter_errors(obj))


# jsonschema's messages start with the offending value ("{'x': 'hunter2'} is not of type 'string'");
# these validators name only keys of the object, never a value.
_KEYS_ONLY_VALIDATORS = frozenset({"required", "additionalProperties"})
SECRET_FIELDS = ("data", "stringData")


def _may_show_secret_data(obj: dict[str, Any], path: tuple[Any, ...]) -> bool:
    """Whether an error at ``path`` of ``obj`` may hold a Secret's data: inside data or stringData, or
    at the Secret itself (whose value includes them)."""
    if obj.get("kind") != "Secret":
        return False
    return not path or path[0] in SECRET_FIELDS


def _value_free(exc: Any) -> str:
    """The schema error without the value that failed it: what was expected and what kind of thing was found."""
    if exc.validator in _KEYS_ONLY_VALIDATORS:
        return str(exc.message)
    found = _kind(exc.instance)
    if exc.validator == "type":
        expected = exc.validator_value if isinstance(exc.validator_value, list) else [exc.validator_value]
        return f"expected {' or '.join(map(str, expected))}, found {found} (Secret data is not shown)"
    return f"{found} that fails the schema's {exc.validator!r} rule (Secret data is not shown)"


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    return "a string"


def _documents(path: Path) -> list[load.Document]:
    """The YAML documents of a rendered file ("-": standard input); bad YAML is a SpecError.

    Read with the spec loader (load.py), which bounds depth and alias expansion, refuses bad bytes
    with a position, and never quotes a value in its messages: the file may be a Secret.
    """
    import sys

    if str(path) != "-" and path.is_symlink():
        # A link in a rendered directory is not pgrender's, and lint quotes the values of what it
        # reads: one committed pointing at a file outside would put that file's values in CI's log.
        raise SpecError([Problem(str(path), 0, 0, "", "a link, not a file pgrender writes: not read")])
    try:
        # Bytes, decoded here: sys.stdin's encoding follows the locale, and rendered YAML is UTF-8.
        data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as exc:
        raise SpecError([Problem(str(path), 0, 0, "", f"cannot read file: {exc.strerror}")]) from None
    return list(load.load_bytes(data, str(path)))


def _unexpected(exc: Any) -> tuple[str, ...]:
    """The first field an additionalProperties error found unexpected (where the problem is shown),
    or nothing."""
    if exc.validator != "additionalProperties" or not isinstance(exc.instance, dict):
        return ()
    allowed = exc.schema.get("properties", {}) if isinstance(exc.schema, dict) else {}
    return next(((key,) for key in exc.instance if key not in allowed), ())


def _not_base64(obj: dict[str, Any]) -> list[tuple[str, str]]:
    """The fields of a Secret's data that are not base64 (the schema's format "byte", which
    jsonschema does not check), as the API server decodes them: standard alphabet and padding,
    line breaks ignored."""
    data = obj.get("data") if obj.get("kind") == "Secret" else None
    if not isinstance(data, dict):
        return []
    bad = []
    for key, value in data.items():
        try:
            if isinstance(value, str):
                base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
        except binascii.Error:
            bad.append(("data", str(key)))
    return bad


def _not_an_object(obj: dict[str, Any]) -> tuple[str, str] | None:
    """(field, message) when ``obj`` lacks what names a Kubernetes object's schema: apiVersion
    (group/version or version) and kind, each a string."""
    for field in ("apiVersion", "kind"):
        if field not in obj:
            return field, "required field is missing: a Kubernetes object has apiVersion and kind"
        if not isinstance(obj[field], str):
            return field, f"expected a string; found {_kind(obj[field])}"
    if not re.fullmatch(r"([a-z0-9.-]+/)?v[0-9]+[a-z0-9]*", obj["apiVersion"]):
        return "apiVersion", "expected group/version or version (apps/v1, v1)"
    return None


def _ident(obj: dict[str, Any], index: int) -> str:
    meta = obj.get("metadata")
    name = meta.get("name", f"document {index}") if isinstance(meta, dict) else f"document {index}"
    return f"{obj.get('kind', '?')}/{name}"


def kubeconform(paths: list[Path], version: str) -> subprocess.CompletedProcess[str]:
    """Run the kubeconform binary (not packaged anywhere pgrender installs from) when on PATH."""
    binary = shutil.which("kubeconform")
    if binary is None:
        raise PgrenderError("--kubeconform: no kubeconform binary on PATH (see README, 'Lint and kubeconform')")
    files = [str(p) for p in yaml_files(paths) if p.name != "kustomization.yaml"]
    if "-" in files:
        raise PgrenderError("--kubeconform reads files, not standard input")
    from pgrender import crds

    # The custom kinds pgrender writes are checked by `lint` itself against their bundled CRD schemas;
    # kubeconform knows Kubernetes' own kinds only and would fail them as missing schemas.
    bundled = ",".join(sorted(f"{api_version}/{kind}" for api_version, kind in crds.custom_kinds()))
    return subprocess.run(
        [binary, "-strict", "-summary", "-skip", bundled, "-kubernetes-version", f"{version}.0", *files],
        capture_output=True,
        text=True,
        check=False,
    )
