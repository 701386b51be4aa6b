"""Secrets provider `external`: External Secrets Operator (ESO) ExternalSecrets stand in for the
Secrets, and every secret value is read from a store (Vault, a cloud secret manager, ...).

Each Secret pgrender would write becomes an ExternalSecret of the same name whose
``target.template`` makes a Secret with the same name, type, labels and keys: the parts known at
render time (user, hosts, ports, databases, the rest of every URI) are written into the template,
and each secret input (a password, a passphrase, a certificate or key) is a ``spec.data`` entry
read from the store and put in place by a Go template (ESO's engine v2: text/template with
Sprig). So applications read the keys they always did, and nothing secret is in the output.

Where each value lives in the store (the remote key convention, ``remote_ref``):

    key      {namespace}/{cluster}/{name}     (pgrender.yaml secrets.external.remoteKey)
    property {property}                       (secrets.external.property)

    name                    property         value
    <user>                  password         the user's password
    _pgrender_pgbouncer     password         pgBouncer's auth user's password
    _pgrender_patroni       password         Patroni's REST API password
    _pgrender_monitor       password         the exporter's monitoring role's password (spec.monitoring)
    _pgrender_pgbackrest    <repo>           the repository's cipher passphrase
    _pgrender_tls           ca.crt           the CA certificate (TLS provider derived)
    _pgrender_tls           <cert>.crt/.key  server, replication, superuser, pgbouncer(-replicas), pgbackrest

A clone reads its source's repository passphrase from the source cluster's namespace and name.
No SCRAM verifier can be derived at render time: the ``verifier`` keys are left out, and the
reconcile Job computes the verifiers from the passwords (plan.RuntimePasswords, passwords.py),
as does CronJob <c>-passwords on a schedule for passwords the store changes later.
"""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Any

from pgrender.errors import PgrenderError
from pgrender.frozen import frozen
from pgrender.plan import RuntimePasswords
from pgrender.plan.labels import CLUSTER_LABEL, cluster_namespace
from pgrender.pod import SYNC_WAVE
from pgrender.secrets import Material, Quoting, SecretInput, SecretText

if TYPE_CHECKING:
    from pgrender.render import Request
    from pgrender.spec.repository import ExternalSecretsSettings

Manifest = dict[str, Any]

KIND = "ExternalSecret"
ENGINE_VERSION = "v2"
# On the ExternalSecret: the rotation counters of its values. A bump changes the annotation, and ESO
# refreshes an ExternalSecret whose labels or annotations changed at once (not at refreshInterval).
ROTATIONS_ANNOTATION = "pgrender.io/rotations"
# Before every other object: Argo CD waits for the ExternalSecrets to be Ready (its health check),
# so the Secrets exist when the pods that read them start (the repository host is in wave 0).
SYNC_WAVE_VALUE = "-1"
INTERNAL_PREFIX = "_pgrender_"  # names of the values only pgrender's pods read (spec roles may not start so)

# How a value is written into its template (Sprig's replace takes old, new, then the text).
# URI: Go's urlquery is url.QueryEscape, which leaves exactly RFC 3986's unreserved characters and
# writes a space as "+"; libpq and pgJDBC decode %20, and a "+" of the password is %2B by then.
PIPELINES: dict[Quoting, str] = {
    Quoting.NONE: "",
    Quoting.URI: ' | urlquery | replace "+" "%20"',
    Quoting.PGPASS: ' | replace "\\\\" "\\\\\\\\" | replace ":" "\\\\:"',
    Quoting.AUTH_FILE: ' | replace "\\"" "\\"\\""',
}


@frozen
class RemoteRef:
    """Where one value is in the store."""

    key: str
    property: str


def remote_name(item: SecretInput) -> tuple[str, str]:
    """The convention's (name, property) of a secret input (see the module's table)."""
    kind, _, arg = item.subject.partition(":")
    if item.material is Material.CA_CERT:
        return f"{INTERNAL_PREFIX}tls", "ca.crt"
    if item.material in (Material.CERT, Material.KEY):
        return f"{INTERNAL_PREFIX}tls", f"{item.subject}.{'crt' if item.material is Material.CERT else 'key'}"
    if item.material is not Material.PASSWORD:
        raise ValueError(f"{item.material} has no place in a store")  # verifiers are computed in the cluster
    if kind == "user":
        return arg, "password"
    internal = {
        "pgbouncer-auth": "pgbouncer",
        "patroni-restapi": "patroni",
        "pgbackrest-cipher": "pgbackrest",
        "monitoring": "monitor",
    }
    name = internal.get(kind, re.sub(r"[^a-z0-9]+", "_", kind))
    return f"{INTERNAL_PREFIX}{name}", arg or "password"


def remote_ref(item: SecretInput, namespace: str, cluster: str, settings: ExternalSecretsSettings) -> RemoteRef:
    """The store's key and property of ``item`` of cluster ``namespace``/``cluster`` by the templates
    of pgrender.yaml (an input of another cluster, a clone's source passphrase, is under that one's)."""
    namespace, cluster = item.owner or (namespace, cluster)
    name, prop = remote_name(item)
    fields = {"namespace": namespace, "cluster": cluster, "name": name, "property": prop}
    return RemoteRef(settings.remote_key.format(**fields), settings.property.format(**fields))


def _variable(prop: str, taken: set[str]) -> str:
    """A template variable (a Go identifier, so ``.name`` reads it) for a property, unique here."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", prop)
    base = base if re.match(r"[A-Za-z_]", base) else f"v_{base}"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name


def go_template(text: SecretText, variables: dict[RemoteRef, str], refs: dict[SecretInput, RemoteRef]) -> str:
    """``text`` as an ESO template: literal parts as they are ("{{" written as an action that prints
    it), each input as its variable through the pipeline of its quoting."""
    out = []
    for part in text.parts:
        if isinstance(part, str):
            out.append(part.replace("{{", '{{ "{{" }}'))
        else:
            out.append(f"{{{{ .{variables[refs[part]]}{PIPELINES[part.quoting]} }}}}")
    return "".join(out)


def _identity(item: SecretInput) -> tuple[Material, str, tuple[str, str] | None]:
    """What a value is, whatever its rotation or quoting: one store entry per identity."""
    return (item.material, item.subject, item.owner)


class External:
    """The provider; ``configure`` gives it pgrender.yaml's settings (providers.Configurable). The
    cluster of each Secret is its namespace and pgrender's cluster label, which every object has."""

    name = "external"
    summary = (
        "External Secrets Operator ExternalSecrets reading every value from a store (the store and the keys: "
        "secrets.external in pgrender.yaml); no secret in the output"
    )
    needs_root_key = False
    writes_plaintext = False

    def __init__(self, settings: ExternalSecretsSettings | None = None) -> None:
        self._settings = settings
        self.runtime_passwords = RuntimePasswords(settings.password_sync if settings else None)

    def configure(self, request: Request, root_key: bytes | None) -> External:
        from pgrender.spec.repository import ExternalSecretsSettings

        settings = request.secrets_settings
        return External(settings.external if settings else ExternalSecretsSettings())

    def owns(self, manifest: Manifest) -> bool:
        return bool(manifest["kind"] == "Secret")

    def finish(self, owned: list[Manifest]) -> list[Manifest]:
        settings = self._settings
        assert settings is not None, "configure() first"
        seen: dict[RemoteRef, tuple[Material, str, tuple[str, str] | None]] = {}
        out = []
        for secret in owned:
            # A copy in an application's namespace reads the values of its cluster's (cluster_namespace).
            namespace, cluster = cluster_namespace(secret["metadata"]), secret["metadata"]["labels"][CLUSTER_LABEL]
            refs = {}
            for value in secret.get("data", {}).values():
                for item in value.inputs if isinstance(value, SecretText) else ():
                    if item.material is Material.VERIFIER:
                        continue
                    ref = refs[item] = remote_ref(item, namespace, cluster, settings)
                    other = seen.setdefault(ref, _identity(item))
                    if other != _identity(item):
                        raise PgrenderError(
                            f"secrets.external: {_describe(other)} and {_describe(_identity(item))} of cluster "
                            f"{namespace}/{cluster} would both be read from key {ref.key!r} property "
                            f"{ref.property!r}; make remoteKey or property of pgrender.yaml tell them apart "
                            "(with {name} and {property})"
                        )
            out.append(_external_secret(secret, refs, settings) if refs else _literal_secret(secret))
        return out


def _describe(identity: tuple[Material, str, tuple[str, str] | None]) -> str:
    material, subject, owner = identity
    return f"{material.value} of {subject}" + (f" (cluster {owner[0]}/{owner[1]})" if owner else "")


def _external_secret(
    secret: Manifest, refs: dict[SecretInput, RemoteRef], settings: ExternalSecretsSettings
) -> Manifest:
    """The ExternalSecret whose template makes ``secret`` (its verifier keys left out)."""
    meta = secret["metadata"]
    variables: dict[RemoteRef, str] = {}
    taken: set[str] = set()
    for ref in refs.values():
        if ref not in variables:
            variables[ref] = _variable(ref.property, taken)
    data = {}
    for key, value in secret.get("data", {}).items():
        text = value if isinstance(value, SecretText) else SecretText((base64.b64decode(value).decode(),))
        if any(item.material is Material.VERIFIER for item in text.inputs):
            continue
        data[key] = go_template(text, variables, refs)
    rotations = sorted({f"{item.subject}={item.rotation}" for item in refs})
    template_meta: Manifest = {"labels": dict(meta.get("labels", {}))}
    if meta.get("annotations"):
        template_meta["annotations"] = dict(meta["annotations"])
    return {
        "apiVersion": settings.api_version,
        "kind": KIND,
        "metadata": {
            **meta,
            "annotations": {
                SYNC_WAVE: SYNC_WAVE_VALUE,
                **meta.get("annotations", {}),
                ROTATIONS_ANNOTATION: " ".join(rotations),
            },
        },
        "spec": {
            "secretStoreRef": {"kind": settings.store.kind, "name": settings.store.name},
            "refreshInterval": settings.refresh_interval,
            "target": {
                "name": meta["name"],
                "creationPolicy": "Owner",
                "deletionPolicy": "Retain",
                "template": {
                    "engineVersion": ENGINE_VERSION,
                    "type": secret.get("type", "Opaque"),
                    "metadata": template_meta,
                    "data": data,
                },
            },
            "data": [
                {"secretKey": name, "remoteRef": {"key": ref.key, "property": ref.property}}
                for ref, name in variables.items()
            ],
        },
    }


def _literal_secret(secret: Manifest) -> Manifest:
    """A Secret with nothing from a store (every value known at render time) stays a Secret."""
    data = {}
    for key, value in secret.get("data", {}).items():
        if isinstance(value, SecretText):
            value = base64.b64encode("".join(p for p in value.parts if isinstance(p, str)).encode()).decode()
        data[key] = value
    return {**secret, "data": data}


PROVIDER = External()
