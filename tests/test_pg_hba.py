"""pg_hba: rules read as PostgreSQL's hba.c reads them, then held to pgrender's policy.

tests/runtime/test_pg_hba.py checks the same module against the server's own parser.
"""

from __future__ import annotations

import pytest

from pgrender.plan.pg_hba import HbaError, Token, check_rule, parse_rule

RESERVED = ("postgres", "_pgrender_repl")


def test_the_three_bypasses_of_the_issue_are_refused() -> None:
    newline = "hostssl zoo rhino 10.0.0.0/8 scram-sha-256\nhost all all 0.0.0.0/0 trust"
    assert "control character U+000A" in (check_rule(newline, RESERVED) or "")
    # The netmask is a field of its own: the method is trust, not "0.0.0.0".
    netmask = parse_rule("hostssl all all 0.0.0.0 0.0.0.0 trust")
    assert (netmask.address, netmask.netmask, netmask.method) == ("0.0.0.0", "0.0.0.0", "trust")
    assert "'trust'" in (check_rule("hostssl all all 0.0.0.0 0.0.0.0 trust", RESERVED) or "")
    # PostgreSQL compares the method's text: a quoted "trust" is trust.
    assert parse_rule('hostssl all all 10.0.0.0/8 "trust"').method == "trust"
    assert "'trust'" in (check_rule('hostssl all all 10.0.0.0/8 "trust"', RESERVED) or "")


@pytest.mark.parametrize(
    ("line", "users"),
    [
        ("hostssl all a,b all cert", [Token("a", False), Token("b", False)]),
        ("hostssl all a, b all cert", [Token("a", False), Token("b", False)]),  # a comma continues the list
        ('hostssl all "a b","c""d" all cert', [Token("a b", True), Token('c"d', True)]),
        ('hostssl all "all" all cert', [Token("all", True)]),  # quoted: a role named all
        ('hostssl all a"ll" all cert', [Token("all", False)]),  # quoted only from the first character on
        ("hostssl all +admins all cert", [Token("+admins", False)]),
        ('hostssl all "@admins" all cert', [Token("@admins", True)]),
    ],
)
def test_tokens_follow_hba_c(line: str, users: list[Token]) -> None:
    assert list(parse_rule(line).users) == users


def test_fields_comments_and_blanks() -> None:
    rule = parse_rule('hostssl\tapp  app 10.0.0.0/8 scram-sha-256 clientcert=verify-full # "unclosed')
    assert (rule.connection_type, rule.address, rule.options) == (
        "hostssl",
        "10.0.0.0/8",
        (("clientcert", "verify-full"),),
    )
    # "a ,b": the field ends at the blank, and ",b" starts the next one (here: the address).
    with pytest.raises(HbaError, match="expected an authentication method"):
        parse_rule("hostssl all a ,b 10.0.0.0/8 scram-sha-256")


@pytest.mark.parametrize(
    ("line", "address", "netmask"),
    [
        ("hostssl all all 10.0.0.0/8 cert", "10.0.0.0/8", None),
        ("hostssl all all 10.1.2.3/8 cert", "10.1.2.3/8", None),
        ("hostssl all all 10.0.0.0 255.0.0.0 cert", "10.0.0.0", "255.0.0.0"),
        ("hostssl all all fd00::/8 cert", "fd00::/8", None),
        ("hostssl all all ::1 ffff:: cert", "::1", "ffff::"),
        ("hostssl all all db.example.com cert", "db.example.com", None),
        ("hostssl all all .example.com cert", ".example.com", None),
        ("hostssl all all samenet cert", "samenet", None),
        ('hostssl all all "samenet" cert', "samenet", None),  # quoted: a host named samenet
    ],
)
def test_address_forms(line: str, address: str, netmask: str | None) -> None:
    rule = parse_rule(line)
    assert (rule.address, rule.netmask, rule.method) == (address, netmask, "cert")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("hostssl all all 10.0.0.0/8\vscram-sha-256", "control character U+000B"),
        ("hostssl all all 10.0.0.0/8 scram-sha-256\r", "control character U+000D"),
        ("hostssl all all 10.0.0.0/8 scram-sha-256\\", "ends with a backslash"),
        ("hostssl all @admins 10.0.0.0/8 scram-sha-256", "'@file' would include a file"),
        ("hostssl all all 127.1 255.0.0.0 scram-sha-256", "expected an address"),
        ("hostssl all all 010.0.0.0/8 scram-sha-256", "expected an IP address before '/'"),
        ("hostssl all all 10.0.0.0/33 scram-sha-256", "CIDR mask of 0 to 32 bits"),
        ("hostssl all all 10.0.0.0 ffff:: scram-sha-256", "expected an IPv4 netmask"),
        ("hostssl all all 10.0.0.0 scram-sha-256", "expected an IPv4 netmask"),
        ("hostssl all all fe80::1%eth0/64 scram-sha-256", "expected an IP address before '/'"),
        ("hostssl all all 10.0.0.0/8,10.1.0.0/16 scram-sha-256", "one address"),
        ("hostssl all all 10.0.0.0/8 SCRAM-SHA-256", "expected an authentication method"),
        ("hostssl all all 10.0.0.0/8 scram-sha-256,cert", "one authentication method"),
        ("hostssl all all 10.0.0.0/8 sspi", "only in PostgreSQL built for Windows"),
        ("hostssl all all 10.0.0.0/8 oauth issuer=https://idp scope=db", "method 'oauth' (PostgreSQL 18) needs"),
        ("hostssl all all 10.0.0.0/8 peer", "only supported on the local socket"),
        ("hostgssenc all all 10.0.0.0/8 cert", "only supported on hostssl"),
        ("local all all gss", "not supported on the local socket"),
        ("hostssl all all 10.0.0.0/8 scram-sha-256 verify-full", "name=value"),
        ("hostssl all all 10.0.0.0/8 scram-sha-256 clientcert=1", "expects one of verify-full, verify-ca"),
        ("hostgssenc all all 10.0.0.0/8 gss clientcert=verify-full", "only valid in hostssl rules"),
        ("hostssl all all 10.0.0.0/8 scram-sha-256 map=m", "belongs to method(s) cert, gss, ident, peer, sspi"),
        ("hostssl all all 10.0.0.0/8 cert clientcert=verify-ca", "needs clientcert=verify-full"),
        ("hostssl all all 10.0.0.0/8 scram-sha-256 nosuch=1", "unknown option 'nosuch'"),
        ("hostssl all all 10.0.0.0/8 ldap ldapserver=ldap", "needs ldapbasedn"),
        ("hostssl all all 10.0.0.0/8 ldap ldapprefix=a ldapbasedn=b", "cannot combine"),
        ("hostssl all all 10.0.0.0/8 ldap ldapurl=ldap://x/dc=y", "'ldapurl' is not supported"),
        ("hostssl all all 10.0.0.0/8 radius radiusservers=a radiussecrets=s", "secret does not belong"),
        ("hostssl all all 10.0.0.0/8 ldap ldapbasedn=dc=x ldapbinddn=cn=y ldapbindpasswd=z", "is a password"),
        ("hostssl all all", "ends before its ADDRESS"),
        ("hostssl all all all", "ends before its METHOD"),
        ("local all", "ends before its USER"),
        ("hostssl,host all all all cert", "one connection type"),
        ("# only a comment", "expected a pg_hba rule starting with"),
        ("", "expected a pg_hba rule starting with"),
    ],
)
def test_what_postgres_or_the_pod_would_not_take(line: str, message: str) -> None:
    with pytest.raises(HbaError) as info:
        parse_rule(line)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("host all all 0.0.0.0/0 scram-sha-256", "'host' would allow connections without TLS"),
        ("hostnossl all all 0.0.0.0/0 scram-sha-256", "'hostnossl' would allow connections without TLS"),
        ("hostnogssenc all all all scram-sha-256", "'hostnogssenc' would allow connections without TLS"),
        ("hostssl all all 0.0.0.0/0 md5", "method 'md5' is weaker than scram-sha-256"),
        ("hostssl all all 0.0.0.0/0 password", "method 'password' is weaker"),
        ("hostssl all all 0.0.0.0/0 ident", "method 'ident' is weaker"),
        ("local all all trust", "method 'trust' admits anyone"),
        ("hostssl all _pgrender_repl all scram-sha-256", "managed by pgrender"),
        ('hostssl all app,"postgres" all scram-sha-256', "managed by pgrender"),
    ],
)
def test_policy(line: str, message: str) -> None:
    assert message in (check_rule(line, RESERVED) or "")


@pytest.mark.parametrize(
    "line",
    [
        "hostssl app app 10.0.0.0/8 scram-sha-256",
        "host all all 0.0.0.0/0 reject",
        "hostssl all all all cert clientname=DN map=certs",
        "hostgssenc all all 10.0.0.0/8 gss include_realm=0 krb_realm=EXAMPLE.COM",
        "hostssl all all 10.0.0.0/8 ldap ldapserver=ldap ldapbasedn=dc=example ldapsearchattribute=uid",
        "hostssl all all 10.0.0.0/8 ldap ldapserver=ldap ldapbasedn=dc=example ldapbinddn=cn=search",
        "local all all peer",
        "local app app md5",
    ],
)
def test_accepted(line: str) -> None:
    assert check_rule(line, RESERVED) is None


def test_ident_on_the_socket_is_peer() -> None:
    assert parse_rule("local all all ident").method == "peer"


def test_option_values_stay_out_of_messages() -> None:
    for line in (
        "hostssl all all 10.0.0.0/8 ldap ldapbindpasswd=hunter2 ldapserver=x",
        "hostssl all all 10.0.0.0/8 radius radiusservers=a radiussecrets=hunter2,hunter2",
        "hostssl all all 10.0.0.0/8 scram-sha-256 clientcert=hunter2",
    ):
        message = check_rule(line, RESERVED)
        assert message is not None and "hunter2" not in message
