"""pgAdmin's start in pod <c>-pgadmin: shipped by pgrender as start.py of ConfigMap <c>-pgadmin and run
with the image's python (/venv/bin/python3 in the official image); nothing of pgrender is imported here.

1. ``setup.py setup-db``: pgAdmin's configuration database is made (the first time, with the
   Administrator login PGADMIN_SETUP_EMAIL and PGADMIN_SETUP_PASSWORD from the environment), or
   migrated to the image's pgAdmin version.
2. The logins of pgadmin.json are made as stated, in one application context, through the functions
   pgAdmin's own ``setup.py add-user`` and ``update-user`` call, so that no password is ever on a
   command line: the Administrator's password from the environment, each database user's
   (``<user>@pgo``, as PGO names them) from its Secret, mounted as a file. Role and password are set
   again on every start (a rotated password takes effect when the pod restarts, which the rollout
   digest of the Secrets makes happen). A ``@pgo`` login pgrender no longer lists is deactivated:
   its database role is gone.
3. Each login's servers in pgrender's server group are replaced by the ones pgadmin.json lists
   (servers the user added elsewhere stay).
4. gunicorn serves pgAdmin (``exec``: it is the container's process), on PGADMIN_LISTEN_ADDRESS and
   PGADMIN_LISTEN_PORT.

A step that fails ends the container with pgAdmin's message (no password is part of one), and
kubelet starts it again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

CONFIG = Path(__file__).with_name("pgadmin.json")
MANAGED_DOMAIN = "@pgo"  # the logins of database users; others are left alone


def password_of(login: dict[str, Any]) -> str:
    """A login's password: from the environment variable, or the file, that pgadmin.json names."""
    if "passwordEnv" in login:
        return os.environ[login["passwordEnv"]]
    return Path(login["passwordFile"]).read_text(encoding="utf-8")


def servers_file(login: dict[str, Any], directory: str) -> str:
    """The login's servers in the form of ``setup.py load-servers`` ({"Servers": {"1": ...}}), as a file."""
    servers = {"Servers": {str(i): server for i, server in enumerate(login["servers"], 1)}}
    with tempfile.NamedTemporaryFile("w", dir=directory, suffix=".json", delete=False) as out:
        json.dump(servers, out)
    return out.name


def fail(message: str) -> None:
    print(f"pgrender pgAdmin start: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def setup_db(pgadmin_dir: str) -> None:
    done = subprocess.run([sys.executable, f"{pgadmin_dir}/setup.py", "setup-db"], cwd=pgadmin_dir, check=False)
    if done.returncode:
        fail(f"setup.py setup-db exited with {done.returncode}")


def sync(pgadmin_dir: str, config: dict[str, Any]) -> None:
    """Steps 2 and 3, in one application context of pgAdmin's."""
    sys.path.insert(0, pgadmin_dir)
    os.chdir(pgadmin_dir)
    # pgAdmin's own modules, in the image only. config is its config.py, which reads config_system.py.
    import config as pgadmin_config  # type: ignore[import-not-found]
    from pgadmin import create_app  # type: ignore[import-not-found]
    from pgadmin.model import Role, Server, ServerGroup, User, db  # type: ignore[import-not-found]
    from pgadmin.tools.user_management import create_user, update_user  # type: ignore[import-not-found]
    from pgadmin.utils import load_database_servers  # type: ignore[import-not-found]
    from pgadmin.utils.constants import INTERNAL  # type: ignore[import-not-found]

    app = create_app(pgadmin_config.APP_NAME + "-cli")
    with app.test_request_context():
        listed = set()
        for login in config["logins"]:
            email = login["email"]
            listed.add(email)
            role = Role.query.filter_by(name=login["role"]).first()
            if role is None:
                fail(f"pgAdmin has no role {login['role']}")
            password = password_of(login)
            data = {"role": role.id, "active": True, "newPassword": password, "confirmPassword": password}
            user = User.query.filter_by(username=email, auth_source=INTERNAL).first()
            if user is None:
                ok, message = create_user({**data, "email": email, "auth_source": INTERNAL})
            else:
                ok, message = update_user(user.id, data)
            if not ok:
                fail(f"login {email}: {message}")
            print(f"pgrender pgAdmin start: login {email} is as stated", flush=True)
        for user in User.query.filter_by(auth_source=INTERNAL).all():
            if user.username.endswith(MANAGED_DOMAIN) and user.username not in listed and user.active:
                ok, message = update_user(user.id, {"active": False})
                if not ok:
                    fail(f"login {user.username}: {message}")
                print(f"pgrender pgAdmin start: login {user.username} deactivated (no longer listed)", flush=True)
        group = config["serverGroup"]
        for login in config["logins"]:
            user = User.query.filter_by(username=login["email"], auth_source=INTERNAL).first()
            for old in ServerGroup.query.filter_by(user_id=user.id, name=group).all():
                for server in Server.query.filter_by(user_id=user.id, servergroup_id=old.id).all():
                    db.session.delete(server)
            db.session.commit()
            if login["servers"]:
                path = servers_file(login, tempfile.gettempdir())
                try:
                    outcome = load_database_servers(path, None, login["email"], True, INTERNAL)
                finally:
                    os.unlink(path)
                if not outcome or not outcome[0]:
                    fail(f"servers of {login['email']}: {outcome}")


def main() -> None:
    pgadmin_dir = os.environ["PGADMIN_DIR"]
    config = json.loads(CONFIG.read_text(encoding="utf-8"))
    setup_db(pgadmin_dir)
    sync(pgadmin_dir, config)
    bind = f"{os.environ['PGADMIN_LISTEN_ADDRESS']}:{os.environ['PGADMIN_LISTEN_PORT']}"
    sys.stdout.flush()
    # One worker: pgAdmin keeps its connections per process (its own deployment guide and PGO run one).
    gunicorn = [sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", "1", "--threads", "25"]
    os.execv(sys.executable, [*gunicorn, "--chdir", pgadmin_dir, "pgAdmin4:app"])


if __name__ == "__main__":
    main()
