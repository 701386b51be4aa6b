"""Argo CD Config Management Plugin: parameters and environment of `pgrender cmp generate`."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from pgrender.errors import PgrenderError
from pgrender.frozen import frozen
from pgrender.providers import DEFAULT_SECRETS_PROVIDER, SECRETS_PROVIDERS, unknown

DEFAULT_KEY_FILE = "/var/run/pgrender/root.key"
# Where the plugin's root key comes from, first first: the Application's or the sidecar's, never pgrender.yaml's.
KEY_SOURCES = (
    f"the root key is the key-file parameter, ARGOCD_ENV_PGRENDER_KEY_FILE, PGRENDER_KEY or {DEFAULT_KEY_FILE}"
)

# Announced to the Argo CD UI (plugin.yaml, parameters.static); Argo CD never sends defaults,
# so generate() applies these itself.
PARAMETERS = (
    {
        "name": "secrets-provider",
        "title": "Secrets provider",
        "tooltip": "One of " + ", ".join(SECRETS_PROVIDERS) + " (see the README)",
        "string": DEFAULT_SECRETS_PROVIDER,
    },
    {
        "name": "key-file",
        "title": "Root key file in the sidecar",
        "tooltip": "Mounted from a Kubernetes Secret",
        "string": DEFAULT_KEY_FILE,
    },
)
ANNOUNCED = frozenset(str(p["name"]) for p in PARAMETERS)


@frozen
class CmpSettings:
    namespace: str | None
    provider: str | None  # a name in providers.SECRETS_PROVIDERS
    key_file: str | None


def _env_name(name: str) -> str:
    return re.sub(r"[^A-Z0-9_]", "_", name.upper())


def _app_parameters(environ: Mapping[str, str]) -> list[dict[str, object]] | None:
    """ARGOCD_APP_PARAMETERS, the parameters exactly as the Application sets them (None: not sent).

    Each is an object with a name and one value: `string`, `array` or `map`. pgrender's parameters
    are strings: one sent otherwise (an array, a number), or twice, is an error, not a parameter
    left out (left out, secrets-provider falls back to plaintext Secrets)."""
    raw = environ.get("ARGOCD_APP_PARAMETERS")
    if not raw:
        return None
    try:
        entries = json.loads(raw)
    except json.JSONDecodeError:
        raise PgrenderError("ARGOCD_APP_PARAMETERS is not valid JSON") from None
    if not isinstance(entries, list):
        raise PgrenderError(f"ARGOCD_APP_PARAMETERS: expected a list of parameters; found {_json_type(entries)}")
    seen: set[str] = set()
    for number, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise PgrenderError(
                f"ARGOCD_APP_PARAMETERS[{number}]: expected an object with a name; found {_json_type(entry)}"
            )
        name = entry["name"]
        if name in seen:
            raise PgrenderError(f"ARGOCD_APP_PARAMETERS: parameter {name} is set twice")
        seen.add(name)
        if name in ANNOUNCED and not isinstance(entry.get("string"), str):
            sent = [k for k in ("array", "map", "string") if k in entry]
            found = f"{sent[0]} {_json_type(entry[sent[0]])}" if sent else "no value"
            raise PgrenderError(f"parameter {name}: expected a string (Argo CD's `string`); found {found}")
    return entries


def _json_type(value: object) -> str:
    """What a JSON value is, in the words of the error messages."""
    if value is None:
        return "null"
    for kind, words in ((bool, "a boolean"), (str, "a string"), (int, "a number"), (float, "a number")):
        if isinstance(value, kind):
            return words
    return "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else type(value).__name__


def parameter(environ: Mapping[str, str], name: str) -> str | None:
    """A string parameter: ARGOCD_APP_PARAMETERS first, then PARAM_<NAME>."""
    for entry in _app_parameters(environ) or []:
        if entry["name"] == name:
            return str(entry["string"])
    return environ.get(f"PARAM_{_env_name(name)}")


def _check_names(environ: Mapping[str, str]) -> None:
    """A misspelt parameter must not silently fall back to a default (say, plaintext Secrets)."""
    known = sorted(ANNOUNCED)
    entries = _app_parameters(environ)
    if entries is not None:
        unknown = [str(e["name"]) for e in entries if e["name"] not in ANNOUNCED]
    else:
        announced = {f"PARAM_{_env_name(name)}" for name in known}
        unknown = sorted(k for k in environ if k.startswith("PARAM_") and k not in announced)
    if unknown:
        raise PgrenderError(f"unknown plugin parameter(s) {', '.join(unknown)}; pgrender knows {', '.join(known)}")


def settings(environ: Mapping[str, str]) -> CmpSettings:
    """Parameters win over the Application's plugin env (ARGOCD_ENV_*), which wins over pgrender.yaml."""
    _check_names(environ)
    provider_text = parameter(environ, "secrets-provider") or environ.get("ARGOCD_ENV_PGRENDER_SECRETS_PROVIDER")
    if provider_text and provider_text not in SECRETS_PROVIDERS:
        raise PgrenderError(f"parameter secrets-provider: {unknown('secrets', provider_text, SECRETS_PROVIDERS)}")
    key_file = parameter(environ, "key-file") or environ.get("ARGOCD_ENV_PGRENDER_KEY_FILE")
    return CmpSettings(environ.get("ARGOCD_APP_NAMESPACE") or None, provider_text or None, key_file)
