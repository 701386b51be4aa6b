"""Argo CD Config Management Plugin: parameters and environment of `pgrender cmp generate`."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from pgrender.errors import PgrenderError
from pgrender.frozen import frozen
from pgrender.providers import DEFAULT_SECRETS_PROVIDER, SECRETS_PROVIDERS, unknown

DEFAULT_KEY_FILE = "/var/run/pgrender/root.key"

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


@frozen
class CmpSettings:
    namespace: str | None
    provider: str | None  # a name in providers.SECRETS_PROVIDERS
    key_file: str | None


def _env_name(name: str) -> str:
    return re.sub(r"[^A-Z0-9_]", "_", name.upper())


def _app_parameters(environ: Mapping[str, str]) -> list[dict[str, object]] | None:
    """ARGOCD_APP_PARAMETERS, the parameters exactly as the Application sets them (None: not sent)."""
    raw = environ.get("ARGOCD_APP_PARAMETERS")
    if not raw:
        return None
    try:
        entries = json.loads(raw)
    except json.JSONDecodeError:
        raise PgrenderError("ARGOCD_APP_PARAMETERS is not valid JSON") from None
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def parameter(environ: Mapping[str, str], name: str) -> str | None:
    """A string parameter: ARGOCD_APP_PARAMETERS first, then PARAM_<NAME>."""
    for entry in _app_parameters(environ) or []:
        if entry.get("name") == name and isinstance(entry.get("string"), str):
            return str(entry["string"])
    return environ.get(f"PARAM_{_env_name(name)}")


def _check_names(environ: Mapping[str, str]) -> None:
    """A misspelt parameter must not silently fall back to a default (say, plaintext Secrets)."""
    known = sorted(str(p["name"]) for p in PARAMETERS)
    entries = _app_parameters(environ)
    if entries is not None:
        unknown = [str(e.get("name")) for e in entries if e.get("name") not in known]
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
