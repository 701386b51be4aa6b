"""A pgAdmin 4 client for the tests: what a person does in pgAdmin's web UI, over its own HTTP API.

Standard library only (urllib, http.cookiejar). It speaks to pgAdmin 9.18 in server mode with internal
authentication, through the endpoints its own web client calls (found in pgAdmin's source):

* ``GET /login``: the login page, whose page properties (``window.renderSecurityPage('login_user',
  {...}, {...})``) carry the CSRF token (``csrfToken``) and, after a failed login, pgAdmin's flashed
  messages (``messages``);
* ``POST /authenticate/login`` (form ``csrf_token``, ``email``, ``password``, ``language``,
  ``internal_button``): a redirect to the browser when the login succeeds, back to the login page
  (with a flashed message) when it fails;
* ``GET /browser/js/utils.js``: the logged-in session's CSRF token (``pgAdmin['csrf_token']``), which
  every API call sends in the ``X-pgA-CSRFToken`` header (``WTF_CSRF_HEADERS``; pgAdmin checks it on
  GET too);
* ``GET /browser/server_group/obj/``, ``GET /browser/server/obj/<gid>/`` and
  ``GET /browser/server/obj/<gid>/<sid>``: the user's server groups, their servers, and one server's
  properties (its ``connection_params``: ``sslmode``, ``sslrootcert``, ...);
* ``POST /browser/server/connect/<gid>/<sid>`` (JSON ``{"password": ...}``): pgAdmin connects to the
  PostgreSQL server itself, and answers ``success`` or its error (``errormsg``, HTTP 401);
* ``GET /browser/database/obj/<gid>/<sid>/``: the databases of a connected server.

pgAdmin keeps a logged-in user's key in the memory of the process that served the login, so it must
run one process (gunicorn ``--workers 1``), as its image does.
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

CSRF_HEADER = "X-pgA-CSRFToken"
_PAGE_PROPS = re.compile(r"renderSecurityPage\(\s*'(?P<page>[^']*)'\s*,\s*")
_SESSION_TOKEN = re.compile(r"pgAdmin\['csrf_token'\]\s*=\s*'(?P<token>[^']+)'")


class PgAdminError(AssertionError):
    """pgAdmin answered something this client did not expect (the message shows what)."""


class NotLoggedIn(PgAdminError):
    """A call that needs a logged-in session was sent to pgAdmin without one (it redirected to /login)."""


@dataclass(frozen=True)
class Login:
    """The outcome of a login: ``ok``, or refused with pgAdmin's messages (``Incorrect username or
    password.``)."""

    ok: bool
    email: str
    messages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Server:
    """A server registered in pgAdmin, as the logged-in user sees it."""

    group_id: int
    group: str
    id: int
    name: str
    host: str
    port: int
    username: str
    maintenance_db: str
    connected: bool
    # Its connection parameters (sslmode, sslrootcert, connect_timeout, ...), where asked for.
    connection_params: dict[str, str]

    @property
    def sslmode(self) -> str | None:
        return self.connection_params.get("sslmode")


@dataclass(frozen=True)
class Connection:
    """The outcome of asking pgAdmin to connect to a server: ``ok``, or pgAdmin's error message (what
    libpq said, for a refused password)."""

    ok: bool
    message: str
    status: int


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are answers here (a login's outcome, a session that is not logged in)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


@dataclass(frozen=True)
class _Response:
    status: int
    location: str | None
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _page_properties(html: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The page name, page properties and other properties of a pgAdmin security page."""
    match = _PAGE_PROPS.search(html)
    if match is None:
        raise PgAdminError(f"no renderSecurityPage(...) in the page: {html[:300]!r}")
    decoder = json.JSONDecoder()
    props, end = decoder.raw_decode(html, match.end())
    rest = html[end:].lstrip()
    if not rest.startswith(","):
        raise PgAdminError(f"unexpected text after the page properties: {rest[:100]!r}")
    other, _ = decoder.raw_decode(rest[1:].lstrip())
    return match.group("page"), props, other


class PgAdmin:
    """One browser session with pgAdmin at ``url`` (``http://127.0.0.1:5050``): its own cookies."""

    def __init__(self, url: str, timeout: float = 30) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect())
        self.csrf_token: str | None = None
        self.email: str | None = None

    # -- HTTP ----------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        form: dict[str, str] | None = None,
        payload: Any = None,
        csrf: bool = True,
        page: bool = False,
    ) -> _Response:
        # A page as a browser asks for it: Flask-Security answers a JSON client's GET /login in JSON.
        headers = {"Accept": "text/html" if page else "application/json"}
        data: bytes | None = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif payload is not None:
            data = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        if csrf and self.csrf_token is not None:
            headers[CSRF_HEADER] = self.csrf_token
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                return _Response(response.status, response.headers.get("Location"), response.read())
        except urllib.error.HTTPError as error:  # 3xx (not followed), 4xx, 5xx: answers too
            with error:
                return _Response(error.code, error.headers.get("Location"), error.read())

    def _api(self, method: str, path: str, payload: Any = None) -> _Response:
        """A call of pgAdmin's API as the logged-in user (CSRF header sent)."""
        if self.csrf_token is None:
            raise NotLoggedIn(f"{method} {path}: log in first")
        response = self._request(method, path, payload=payload)
        if response.status in (301, 302, 303, 307, 308) and "/login" in (response.location or ""):
            raise NotLoggedIn(f"{method} {path}: pgAdmin redirected to {response.location} (session not logged in)")
        return response

    def _api_json(self, method: str, path: str, payload: Any = None) -> Any:
        response = self._api(method, path, payload)
        if response.status != 200:
            raise PgAdminError(f"{method} {path}: HTTP {response.status}: {response.body[:500]!r}")
        return response.json()

    # -- the login page ------------------------------------------------------------------------

    def login_page(self) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """The login page's name, properties (``csrfToken``, ``loginUrl``) and other properties
        (``messages``: pgAdmin's flashed [category, message] pairs, which it shows once)."""
        response = self._request("GET", "/login", csrf=False, page=True)
        if response.status != 200:
            raise PgAdminError(f"GET /login: HTTP {response.status} (location {response.location})")
        return _page_properties(response.body.decode())

    def login(self, email: str, password: str) -> Login:
        """Log in as pgAdmin's login form does; a refused login is ``Login(ok=False, messages=...)``."""
        self.csrf_token = None
        _, props, _ = self.login_page()
        token = props.get("csrfToken")
        if not isinstance(token, str) or not token:
            raise PgAdminError(f"the login page carries no csrfToken: {sorted(props)}")
        login_url = str(props.get("loginUrl") or "/authenticate/login")
        form = {
            "csrf_token": token,
            "email": email,
            "password": password,
            "language": "en",
            "internal_button": "Login",
        }
        response = self._request("POST", login_url, form=form, csrf=False, page=True)
        location = urllib.parse.urlsplit(response.location or "").path
        if response.status not in (302, 303) or location.startswith("/login") or not location:
            messages: list[str] = []
            if response.status in (302, 303):  # back to the login page, which shows why
                _, _, other = self.login_page()
                messages = [str(message) for _, message in other.get("messages", [])]
            elif response.status == 200:  # the login page itself, rendered again with the error
                try:
                    _, _, other = _page_properties(response.body.decode(errors="replace"))
                    messages = [str(message) for _, message in other.get("messages", [])]
                except PgAdminError:
                    messages = [response.body[:300].decode(errors="replace")]
            else:
                messages = [f"HTTP {response.status}: {response.body[:300].decode(errors='replace')}"]
            return Login(False, email, tuple(messages))
        utils = self._request("GET", "/browser/js/utils.js", csrf=False, page=True)
        found = _SESSION_TOKEN.search(utils.body.decode(errors="replace")) if utils.status == 200 else None
        if found is None:
            # Logged in, yet the browser's script is not served: the session did not hold.
            return Login(False, email, (f"GET /browser/js/utils.js after the login: HTTP {utils.status}",))
        self.csrf_token = found.group("token")
        self.email = email
        return Login(True, email)

    def logout(self) -> None:
        """Log out (pgAdmin forgets the user's key and closes its connections)."""
        if self.csrf_token is not None:
            self._request("GET", "/logout", csrf=True)
        self.csrf_token = None
        self.email = None

    # -- servers -------------------------------------------------------------------------------

    def server_groups(self) -> list[tuple[int, str]]:
        """(id, name) of each server group of the logged-in user."""
        return [(int(g["id"]), str(g["name"])) for g in self._api_json("GET", "/browser/server_group/obj/")]

    def servers(self, *, details: bool = True) -> list[Server]:
        """Every server the logged-in user sees, group by group; with ``details``, each with its
        connection parameters (one more call each)."""
        found = []
        for group_id, group in self.server_groups():
            for item in self._api_json("GET", f"/browser/server/obj/{group_id}/"):
                params: dict[str, str] = {}
                if details:
                    properties = self._api_json("GET", f"/browser/server/obj/{group_id}/{item['id']}")
                    params = {str(p["name"]): str(p["value"]) for p in properties.get("connection_params") or []}
                found.append(
                    Server(
                        group_id=group_id,
                        group=group,
                        id=int(item["id"]),
                        name=str(item["name"]),
                        host=str(item["host"]),
                        port=int(item["port"]),
                        username=str(item["username"]),
                        maintenance_db=str(item["db"]),
                        connected=bool(item["connected"]),
                        connection_params=params,
                    )
                )
        return found

    def server(self, name: str) -> Server:
        """The server called ``name`` (it must be there, once)."""
        matches = [s for s in self.servers() if s.name == name]
        if len(matches) != 1:
            raise PgAdminError(f"{len(matches)} servers named {name!r}; there are {[s.name for s in self.servers()]}")
        return matches[0]

    def connect(self, server: Server, password: str) -> Connection:
        """Ask pgAdmin to connect to ``server`` with ``password`` (not saved): the real connection is
        made by pgAdmin. ``Connection.ok``, or pgAdmin's error message."""
        path = f"/browser/server/connect/{server.group_id}/{server.id}"
        response = self._api("POST", path, {"password": password, "save_password": False})
        try:
            answer = response.json()
        except ValueError:
            return Connection(False, f"HTTP {response.status}: {response.body[:500].decode(errors='replace')}", 0)
        ok = (
            response.status == 200 and bool(answer.get("success")) and bool((answer.get("data") or {}).get("connected"))
        )
        # A refused connection (HTTP 401, pgAdmin asking for the password again) carries libpq's
        # error in result.errmsg; other failures in errormsg.
        result = answer.get("result") if isinstance(answer.get("result"), dict) else {}
        message = str(result.get("errmsg") or answer.get("errormsg") or answer.get("info") or "")
        return Connection(ok, message, response.status)

    def disconnect(self, server: Server) -> None:
        """Close pgAdmin's connection to ``server``."""
        self._api("DELETE", f"/browser/server/connect/{server.group_id}/{server.id}")

    def connected(self, server: Server) -> bool:
        """Whether pgAdmin holds a connection to ``server`` now."""
        answer = self._api_json("GET", f"/browser/server/connect/{server.group_id}/{server.id}")
        return bool(answer["data"]["connected"])

    def databases(self, server: Server) -> list[str]:
        """The names of the databases of ``server`` that pgAdmin lists (connect first)."""
        rows = self._api_json("GET", f"/browser/database/obj/{server.group_id}/{server.id}/")
        return sorted(str(row["name"]) for row in rows)
