"""pg_hba rules of spec.patroni.pgHBA: read the way PostgreSQL reads pg_hba.conf, then held to pgrender's policy.

Why a hand-written parser: the check must see a rule exactly as the server will, or a rule that
looks harmless here becomes a different rule there (a quoted ``"trust"`` is the method trust, a
numeric address takes the next field as its netmask, a newline starts a second rule). No Python
library reads pg_hba.conf like the server does; pgtoolkit.hba, the one that exists, splits on
whitespace, keeps the quotes of ``"trust"`` and reads ``a, b`` as two fields where PostgreSQL reads
one list. So this module follows PostgreSQL's own hba.c (14 to 18 agree on every rule here):

* ``tokenize_auth_file``: a line ending in a backslash continues on the next line;
* ``next_token``: tokens are separated by blanks (space, tab, CR) and commas; double quotes group
  (``""`` inside quotes is one quote); an unquoted ``#`` starts a comment; a token counts as quoted
  (so is no keyword) only when its first character is a quote;
* ``next_field_expand``: a token ending in an unquoted comma continues the field as a list, and an
  unquoted ``@name`` includes a file;
* ``parse_hba_line``: connection type and method compare the token's text (quoted or not), the
  address keywords ``all``/``samehost``/``samenet`` only unquoted; a numeric address without
  ``/bits`` takes the next field as its netmask; the rest are ``name=value`` options, checked by
  ``parse_hba_auth_opt`` against the method.

``tests/runtime/test_pg_hba.py`` holds this module to the server's own parser (pg_hba_file_rules).
"""

from __future__ import annotations

import ipaddress
import unicodedata

from pgrender.frozen import frozen
from pgrender.patterns import Pattern

CONNECTION_TYPES = ("local", "host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc")
# Types that match connections without TLS: only a reject rule may use them.
PLAINTEXT_TYPES = frozenset({"host", "hostnossl", "hostnogssenc"})
METHODS = frozenset(
    {"trust", "reject", "scram-sha-256", "md5", "password", "gss", "sspi", "ident", "peer", "pam", "ldap", "cert"}
    | {"radius", "bsd"}
)
# Methods that prove less than a scram-sha-256 password over a connection from the network.
WEAK_NETWORK_METHODS = frozenset({"trust", "password", "md5", "ident"})
# Methods PostgreSQL builds for Linux do not have.
UNSUPPORTED_METHODS = {"sspi": "Windows", "bsd": "BSD"}
# Methods of some versions that pgrender does not write, with why (PostgreSQL 18's oauth: its
# validator module, issuer and scope are nothing pgrender sets up or can check).
REFUSED_METHODS = {
    "oauth": "method 'oauth' (PostgreSQL 18) needs an OAuth validator module in oauth_validator_libraries and an "
    "identity provider; pgrender does not support it: use scram-sha-256 or cert",
    # pg_hba.conf is written into ConfigMaps (Patroni's configuration), which are not for secrets.
    "radius": "method 'radius' needs its shared secret (radiussecrets) in pg_hba.conf, which pgrender writes into "
    "ConfigMaps, where a secret does not belong; pgrender does not support it: use ldap, scram-sha-256 or cert",
}
# Options and the methods they belong to (None: any method), from parse_hba_auth_opt.
OPTION_METHODS: dict[str, frozenset[str] | None] = {
    "map": frozenset({"ident", "peer", "gss", "sspi", "cert"}),
    "clientcert": None,
    "clientname": None,
    "pamservice": frozenset({"pam"}),
    "pam_use_hostname": frozenset({"pam"}),
    "ldapurl": frozenset({"ldap"}),
    "ldaptls": frozenset({"ldap"}),
    "ldapscheme": frozenset({"ldap"}),
    "ldapserver": frozenset({"ldap"}),
    "ldapport": frozenset({"ldap"}),
    "ldapbinddn": frozenset({"ldap"}),
    "ldapbindpasswd": frozenset({"ldap"}),
    "ldapsearchattribute": frozenset({"ldap"}),
    "ldapsearchfilter": frozenset({"ldap"}),
    "ldapbasedn": frozenset({"ldap"}),
    "ldapprefix": frozenset({"ldap"}),
    "ldapsuffix": frozenset({"ldap"}),
    "krb_realm": frozenset({"gss", "sspi"}),
    "include_realm": frozenset({"gss", "sspi"}),
    "compat_realm": frozenset({"sspi"}),
    "upn_username": frozenset({"sspi"}),
    "radiusservers": frozenset({"radius"}),
    "radiussecrets": frozenset({"radius"}),
    "radiusidentifiers": frozenset({"radius"}),
    "radiusports": frozenset({"radius"}),
}
OPTION_VALUES: dict[str, tuple[str, ...]] = {
    "clientcert": ("verify-full", "verify-ca"),
    "clientname": ("CN", "DN"),
    "ldapscheme": ("ldap", "ldaps"),
}
LDAP_SEARCH_OPTIONS = ("ldapbasedn", "ldapbinddn", "ldapbindpasswd", "ldapsearchattribute", "ldapsearchfilter")
BLANKS = frozenset(" \t\r")  # hba.c's pg_isblank
_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = Pattern(rf"\.?{_HOST_LABEL}(?:\.{_HOST_LABEL})*")
# What the C library's numeric address parser (inet_aton) reads as an IPv4 address: "10", "127.1",
# "0x7f.1", "010.0.0.1". PostgreSQL would take such a token as an address (and the next field as
# its netmask), so pgrender refuses it rather than read it as a host name.
_NUMERIC_LABEL = Pattern(r"0[xX][0-9A-Fa-f]*|[0-9]+")


class HbaError(ValueError):
    """The rule is not one that pgrender writes into pg_hba.conf; the message says why."""


@frozen
class Token:
    """One token of a field: its text without quotes, and whether it began with a quote."""

    text: str
    quoted: bool

    def is_keyword(self, keyword: str) -> bool:
        return not self.quoted and self.text == keyword


@frozen
class HbaRule:
    """One pg_hba.conf rule as PostgreSQL reads it (method after its local ident -> peer rewrite)."""

    connection_type: str
    databases: tuple[Token, ...]
    users: tuple[Token, ...]
    address: str | None  # an address (with /bits), host name or keyword; None for local
    netmask: str | None  # the separate netmask field, when the address has one
    method: str
    options: tuple[tuple[str, str], ...]


def parse_rule(line: str) -> HbaRule:
    """The single rule ``line`` holds, as PostgreSQL reads it; HbaError when it is not exactly one.

    Besides what PostgreSQL itself refuses, this refuses what would make the line more or less
    than one rule once it sits among pgrender's rules: control characters (a newline is a second
    rule), a trailing backslash (it joins the next rule to this one), and ``@file`` includes.
    """
    for char in line:
        if char != "\t" and (unicodedata.category(char) == "Cc" or char in "\u2028\u2029"):
            raise HbaError(
                f"contains the control character U+{ord(char):04X}; a rule is one line of pg_hba.conf "
                "(only tabs may separate its fields)"
            )
    if line.endswith("\\"):
        raise HbaError("ends with a backslash, which would continue the rule on the next line of pg_hba.conf")
    fields = _fields(line)
    if not fields or len(fields[0]) != 1 or fields[0][0].text not in CONNECTION_TYPES:
        if fields and len(fields[0]) > 1:
            raise HbaError("expected one connection type, found a list")
        raise HbaError(f"expected a pg_hba rule starting with one of {', '.join(CONNECTION_TYPES)}")
    connection_type = fields[0][0].text
    names = ("DATABASE", "USER") if connection_type == "local" else ("DATABASE", "USER", "ADDRESS")
    if len(fields) < len(names) + 2:
        missing = (*names, "METHOD")[len(fields) - 1]
        raise HbaError(f"expected TYPE DATABASE USER [ADDRESS] METHOD [OPTIONS]; the rule ends before its {missing}")
    address = netmask = None
    rest = fields[3:]
    if connection_type != "local":
        address, netmask, rest = _address(fields[3], fields[4:])
    if not rest:
        raise HbaError("expected TYPE DATABASE USER [ADDRESS] METHOD [OPTIONS]; the rule ends before its METHOD")
    method = _method(connection_type, rest[0])
    options = _options(connection_type, method, rest[1:])
    return HbaRule(connection_type, tuple(fields[1]), tuple(fields[2]), address, netmask, method, options)


def check_rule(line: str, reserved_roles: tuple[str, ...]) -> str | None:
    """Why pgrender refuses the pg_hba rule ``line``, or None when it writes it as written."""
    try:
        rule = parse_rule(line)
    except HbaError as exc:
        return str(exc)
    if any(user.text in reserved_roles for user in rule.users):
        return "rules for the superuser and replication roles are managed by pgrender"
    if rule.connection_type in PLAINTEXT_TYPES and rule.method != "reject":
        return f"{rule.connection_type!r} would allow connections without TLS; use hostssl (or method reject)"
    if rule.method == "trust":
        # Not even on the socket: any process in the pod could then act as any role.
        return "method 'trust' admits anyone as any role without a password; use scram-sha-256, cert or peer"
    if rule.method in WEAK_NETWORK_METHODS and rule.connection_type != "local":
        return f"method {rule.method!r} is weaker than scram-sha-256, which pgrender's passwords use"
    return None


def _fields(line: str) -> list[list[Token]]:
    """The fields of one line, each a list of tokens (next_field_expand over the whole line)."""
    fields: list[list[Token]] = []
    pos = 0
    while pos < len(line):
        tokens: list[Token] = []
        while True:
            token, pos, comma = _next_token(line, pos)
            if token is None:
                break
            tokens.append(token)
            if not comma:
                break
        if tokens:
            fields.append(tokens)
    return fields


def _next_token(line: str, pos: int) -> tuple[Token | None, int, bool]:
    """hba.c's next_token: (token or None at the end of the line, position after it, ended by a comma)."""
    while pos < len(line) and (line[pos] in BLANKS or line[pos] == ","):
        pos += 1
    chars: list[str] = []
    in_quote = was_quote = saw_quote = initial_quote = comma = False
    while pos < len(line) and (line[pos] not in BLANKS or in_quote):
        char = line[pos]
        if char == "#" and not in_quote:
            pos = len(line)
            break
        if char == "," and not in_quote:
            comma = True
            break
        if char != '"' or was_quote:
            chars.append(char)
        was_quote = not was_quote if in_quote and char == '"' else False
        if char == '"':
            in_quote = not in_quote
            saw_quote = True
            if not chars:
                initial_quote = True
        pos += 1
    if not saw_quote and not chars:
        return None, pos, False
    text = "".join(chars)
    if not initial_quote and text.startswith("@") and len(text) > 1:
        raise HbaError("'@file' would include a file, and the pod has none; write the names into the rule")
    return Token(text, initial_quote), pos, comma


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if "%" in text:  # a zone the pod may not have: the server would read the token as a host name
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _address(field: list[Token], rest: list[list[Token]]) -> tuple[str, str | None, list[list[Token]]]:
    """(address, netmask or None, the fields after them) of a host rule."""
    if len(field) != 1:
        raise HbaError("expected one address, found a list")
    token = field[0]
    if any(token.is_keyword(k) for k in ("all", "samehost", "samenet")):
        return token.text, None, rest
    host, slash, bits = token.text.partition("/")
    ip = _ip(host)
    if slash:
        if ip is None:
            raise HbaError("expected an IP address before '/' (a host name takes no CIDR mask)")
        if not bits.isascii() or not bits.isdigit() or int(bits) > ip.max_prefixlen:
            raise HbaError(f"expected a CIDR mask of 0 to {ip.max_prefixlen} bits after '/'")
        return token.text, None, rest
    if ip is not None:
        if not rest or len(rest[0]) != 1:
            raise HbaError("expected a netmask after an address without '/bits'")
        mask = _ip(rest[0][0].text)
        if mask is None or mask.version != ip.version:
            raise HbaError(f"expected an IPv{ip.version} netmask after the address")
        return token.text, rest[0][0].text, rest[1:]
    if not _HOST_NAME.fullmatch(host) or all(_NUMERIC_LABEL.fullmatch(p) for p in host.lstrip(".").split(".")):
        raise HbaError(
            "expected an address (10.0.0.0/8, 10.0.0.0 255.0.0.0, fd00::/8), a host name (.example.com), "
            "all, samehost or samenet"
        )
    return token.text, None, rest


def _method(connection_type: str, field: list[Token]) -> str:
    if len(field) != 1:
        raise HbaError("expected one authentication method, found a list")
    method = field[0].text  # PostgreSQL compares the text: a quoted "trust" is trust
    if method in REFUSED_METHODS:
        raise HbaError(REFUSED_METHODS[method])
    if method not in METHODS:
        raise HbaError(f"expected an authentication method ({', '.join(sorted(METHODS - set(UNSUPPORTED_METHODS)))})")
    if method in UNSUPPORTED_METHODS:
        raise HbaError(f"method {method!r} exists only in PostgreSQL built for {UNSUPPORTED_METHODS[method]}")
    if connection_type == "local" and method == "ident":
        return "peer"  # what PostgreSQL does with ident on the socket
    if connection_type == "local" and method == "gss":
        raise HbaError("method 'gss' is not supported on the local socket")
    if connection_type != "local" and method == "peer":
        raise HbaError("method 'peer' is only supported on the local socket")
    if connection_type != "hostssl" and method == "cert":
        raise HbaError("method 'cert' is only supported on hostssl rules")
    return method


def _options(connection_type: str, method: str, fields: list[list[Token]]) -> tuple[tuple[str, str], ...]:
    """The name=value options, checked as parse_hba_auth_opt does; values never go into messages."""
    pairs: list[tuple[str, str]] = []
    for token in (t for field in fields for t in field):
        name, equals, value = token.text.partition("=")
        if not equals:
            raise HbaError("expected name=value options after the method")
        if name not in OPTION_METHODS:
            raise HbaError(f"unknown option {name!r}; expected one of {', '.join(sorted(OPTION_METHODS))}")
        methods = OPTION_METHODS[name]
        if methods is not None and method not in methods:
            raise HbaError(f"option {name!r} belongs to method(s) {', '.join(sorted(methods))}, not {method!r}")
        if name in ("clientcert", "clientname") and connection_type != "hostssl":
            raise HbaError(f"option {name!r} is only valid in hostssl rules")
        if name in OPTION_VALUES and value not in OPTION_VALUES[name]:
            raise HbaError(f"option {name!r} expects one of {', '.join(OPTION_VALUES[name])}")
        if name == "clientcert" and method == "cert" and value != "verify-full":
            raise HbaError("method 'cert' needs clientcert=verify-full")
        if name == "ldapbindpasswd":
            raise HbaError(
                "option 'ldapbindpasswd' is a password, and pg_hba.conf is written into ConfigMaps, where a secret "
                "does not belong: search with an anonymous bind (ldapbasedn without ldapbinddn), or bind as the "
                "user (ldapprefix and ldapsuffix)"
            )
        if name == "ldapurl":
            raise HbaError("option 'ldapurl' is not supported; write ldapscheme, ldapserver, ldapport and ldapbasedn")
        if name == "ldapport" and not (value.isascii() and value.isdigit() and 0 < int(value) < 65536):
            raise HbaError("option 'ldapport' expects a port number")
        pairs.append((name, value))
    options = dict(pairs)  # a repeated option: the last one counts, as in PostgreSQL
    if method == "ldap":
        _check_ldap(options)
    return tuple(pairs)


def _check_ldap(options: dict[str, str]) -> None:
    if "ldapprefix" in options or "ldapsuffix" in options:
        if any(o in options for o in LDAP_SEARCH_OPTIONS):
            raise HbaError(f"method 'ldap' cannot combine ldapprefix/ldapsuffix with {', '.join(LDAP_SEARCH_OPTIONS)}")
    elif "ldapbasedn" not in options:
        raise HbaError("method 'ldap' needs ldapbasedn (search and bind) or ldapprefix/ldapsuffix (simple bind)")
    if "ldapsearchattribute" in options and "ldapsearchfilter" in options:
        raise HbaError("method 'ldap' cannot combine ldapsearchattribute with ldapsearchfilter")
