"""A stand-in for the External Secrets Operator: the Secret an ExternalSecret describes, made from a
store held in a dict; and a tiny evaluator of the Go templates pgrender writes into them.

ESO executes each ``target.template.data`` value as a Go text/template (engine v2: Sprig's
functions, ``missingkey=error``) over the map ``secretKey -> value`` of ``spec.data``. This module
evaluates exactly the subset pgrender writes, and refuses anything else (so a template pgrender
starts writing that this does not know fails the tests instead of passing unevaluated):

* text outside ``{{ }}``, copied as it is;
* ``{{ "..." }}``: a Go interpreted string literal, printed;
* ``{{ .name }}`` followed by ``| urlquery`` (Go's builtin: net/url.QueryEscape, which keeps
  A-Z a-z 0-9 - _ . ~, writes a space as "+" and every other byte as %XX) and ``| replace "old"
  "new"`` (Sprig: strings.Replace(text, old, new, -1), the piped value last), any number, in order.

It is written from those definitions, not from pgrender's code: the provider's templates are
checked against it (tests/test_external.py), and the runtime test makes Secrets with it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pgrender.config import ExternalSecretsSettings

_ACTION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_STRING = r'"(?:[^"\\]|\\.)*"'
_TOKEN = re.compile(rf"\s*({_STRING}|\.[A-Za-z_][A-Za-z0-9_]*|\||[A-Za-z_][A-Za-z0-9_]*)")
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


class TemplateError(ValueError):
    """A template this evaluator does not know, or a variable that is not there."""


def go_string(literal: str) -> str:
    """The value of a Go interpreted string literal (with its quotes)."""
    if not (len(literal) >= 2 and literal[0] == literal[-1] == '"'):
        raise TemplateError(f"not a string literal: {literal}")
    out, i, body = [], 0, literal[1:-1]
    simple = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        code = body[i + 1 : i + 2]
        if code in simple:
            out.append(simple[code])
            i += 2
        elif code in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[code]
            out.append(chr(int(body[i + 2 : i + 2 + width], 16)))
            i += 2 + width
        else:
            raise TemplateError(f"unknown escape \\{code} in {literal}")
    return "".join(out)


def query_escape(text: str) -> str:
    """Go's url.QueryEscape (what the template function urlquery calls)."""
    return "".join(chr(b) if b in _UNRESERVED else "+" if b == 0x20 else f"%{b:02X}" for b in text.encode("utf-8"))


def _action(source: str, data: Mapping[str, str]) -> str:
    tokens, rest = [], source
    while rest.strip():
        match = _TOKEN.match(rest)
        if match is None:
            raise TemplateError(f"cannot read {{{{{source}}}}}")
        tokens.append(match.group(1))
        rest = rest[match.end() :]
    if len(tokens) == 1 and tokens[0].startswith('"'):
        return go_string(tokens[0])
    if not tokens or not tokens[0].startswith("."):
        raise TemplateError(f"{{{{{source}}}}}: expected a variable or a string")
    name = tokens[0][1:]
    if name not in data:
        raise TemplateError(f"map has no entry for key {name!r}")  # missingkey=error
    value = data[name]
    commands: list[list[str]] = []
    for token in tokens[1:]:
        if token == "|":
            commands.append([])
        elif commands:
            commands[-1].append(token)
        else:
            raise TemplateError(f"{{{{{source}}}}}: expected | after the variable")
    for command in commands:
        if command == ["urlquery"]:
            value = query_escape(value)
        elif len(command) == 3 and command[0] == "replace":
            value = value.replace(go_string(command[1]), go_string(command[2]))
        else:
            raise TemplateError(f"{{{{{source}}}}}: unknown command {' '.join(command)!r}")
    return value


def execute(template: str, data: Mapping[str, str]) -> str:
    """The text ``template`` makes of ``data``."""
    out, at = [], 0
    for match in _ACTION.finditer(template):
        out.append(template[at : match.start()])
        out.append(_action(match.group(1), data))
        at = match.end()
    tail = template[at:]
    if "{{" in tail:
        raise TemplateError("an action is not closed")
    return "".join(out) + tail


Store = Mapping[tuple[str, str], str]  # (key, property) -> value


def derived_store(spec: str, key_file: str, settings: ExternalSecretsSettings) -> dict[tuple[str, str], str]:
    """A store holding the derived provider's value of every secret input of ``spec`` (one cluster)
    under the remote key convention of ``settings``: what moving that cluster to a store means."""
    from pgrender.components import build
    from pgrender.frozen import replace
    from pgrender.plan import RuntimePasswords
    from pgrender.plans import validate
    from pgrender.secrets import Material, Quoting, SecretText
    from pgrender.secrets import keys as root_keys
    from pgrender.secrets.derived import DerivedValues
    from pgrender.secrets.external import remote_ref

    (plan,) = validate((spec,))
    plan = replace(plan, runtime_passwords=RuntimePasswords(None))
    values = DerivedValues(root_keys.load(key_file, None), plan)
    store = {}
    for manifest in build(plan):
        for value in manifest.get("data", {}).values() if manifest["kind"] == "Secret" else ():
            for item in value.inputs if isinstance(value, SecretText) else ():
                if item.material is not Material.VERIFIER:
                    ref = remote_ref(item, plan.namespace, plan.name, settings)
                    store[(ref.key, ref.property)] = values.value(replace(item, quoting=Quoting.NONE))
    return store


def secret_of(external_secret: Mapping[str, Any], store: Store) -> dict[str, Any]:
    """The Secret ESO makes of ``external_secret`` from ``store``: spec.data read by key and
    property, target.template executed (mergePolicy Replace: only the template's keys), its type,
    labels and annotations; owned by the ExternalSecret (creationPolicy Owner)."""
    spec = external_secret["spec"]
    data = {}
    for entry in spec.get("data", []):
        ref = entry["remoteRef"]
        where = (ref["key"], ref.get("property", ""))
        if where not in store:
            raise KeyError(f"the store has no key {where[0]!r} property {where[1]!r}")
        data[entry["secretKey"]] = store[where]
    target = spec["target"]
    template = target["template"]
    meta = template.get("metadata", {})
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": target.get("name", external_secret["metadata"]["name"]),
            "namespace": external_secret["metadata"]["namespace"],
            "labels": dict(meta.get("labels", {})),
            **({"annotations": dict(meta["annotations"])} if meta.get("annotations") else {}),
        },
        "type": template.get("type", "Opaque"),
        "data": {
            key: base64.b64encode(execute(text, data).encode("utf-8")).decode()
            for key, text in template.get("data", {}).items()
        },
    }
