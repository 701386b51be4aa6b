"""The root key: a warning for a key file others can read, one key from --key-file and PGRENDER_KEY or
exit 2, a bounded read (/dev/zero, a FIFO without a writer), and the published test key and the
all-zero key refused unless PGRENDER_ALLOW_TEST_KEY=1. No message carries key bytes."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pgrender.errors import RootKeyError
from pgrender.secrets import keys
from tests.conftest import ALLOW_TEST_KEY, EXAMPLES, GOLDEN_KEY, run_cli

OWN_KEY = "8d1f6a1e6a7e1c5b2b4f1f0e9d8c7b6a5f4e3d2c1b0a99887766554433221100"
ZERO_KEY = "0" * 64
MINIMAL = str(EXAMPLES / "minimal.yaml")


def key_file(tmp_path: Path, key: str = OWN_KEY, mode: int = 0o600, name: str = "root.key") -> Path:
    path = tmp_path / name
    path.write_text(key + "\n")
    path.chmod(mode)
    return path


def render(*args: str, env: dict[str, str | None] | None = None) -> subprocess.CompletedProcess[str]:
    """`pgrender render minimal --stdout` in a process of its own, with a memory cap and a timeout:
    a key file that is a device must fail, not fill memory or hang."""

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))

    environ = dict(os.environ)
    for name, value in (env or {}).items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    return subprocess.run(
        [sys.executable, "-m", "pgrender", "render", MINIMAL, "--stdout", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        preexec_fn=cap_memory,
        check=False,
    )


NOT_ROOT = 65534  # nobody


def owned_by(path: Path, uid: int) -> Path:
    """``path`` owned by ``uid`` (as root); without root, a file is owned by the non-root user anyway."""
    if os.geteuid() == 0:
        os.chown(path, uid, -1)
    elif uid == 0:
        pytest.skip("needs root to make a root-owned file (CI runs as root)")
    return path


# libpq's rule for keys: a root-owned file may be group-readable (a Secret mounted for a pod's fsGroup).
@pytest.mark.parametrize(("mode", "uid"), [(0o644, NOT_ROOT), (0o640, NOT_ROOT), (0o604, NOT_ROOT), (0o644, 0)])
def test_a_key_file_others_can_read_is_warned_about(tmp_path: Path, mode: int, uid: int) -> None:
    path = owned_by(key_file(tmp_path, mode=mode), uid)
    result = run_cli("render", MINIMAL, "--stdout", "--key-file", str(path), env={"PGRENDER_KEY": ""})
    assert result.exit_code == 0
    (warning,) = [line for line in result.stderr.splitlines() if line.startswith("pgrender: warning: ")]
    assert f"{path}: the root key file is readable by" in warning
    assert f"mode {mode:04o}" in warning and f"chmod 600 {path}" in warning
    assert OWN_KEY not in result.stderr and OWN_KEY not in result.stdout


@pytest.mark.parametrize(("mode", "uid"), [(0o600, NOT_ROOT), (0o400, NOT_ROOT), (0o640, 0), (0o440, 0)])
def test_a_private_key_file_is_not_warned_about(tmp_path: Path, mode: int, uid: int) -> None:
    path = owned_by(key_file(tmp_path, mode=mode), uid)
    result = run_cli("render", MINIMAL, "--stdout", "--key-file", str(path), env={"PGRENDER_KEY": ""})
    assert result.exit_code == 0
    assert "warning" not in result.stderr


def test_two_different_keys_are_refused(tmp_path: Path) -> None:
    other = OWN_KEY[::-1]
    result = run_cli("render", MINIMAL, "--stdout", "--key-file", str(key_file(tmp_path)), env={"PGRENDER_KEY": other})
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "hold two different root keys" in result.stderr
    assert OWN_KEY not in result.stderr and other not in result.stderr


def test_the_same_key_twice_is_one_key(tmp_path: Path) -> None:
    path = key_file(tmp_path)
    both = run_cli("render", MINIMAL, "--stdout", "--key-file", str(path), env={"PGRENDER_KEY": OWN_KEY.upper()})
    one = run_cli("render", MINIMAL, "--stdout", "--key-file", str(path), env={"PGRENDER_KEY": ""})
    assert both.exit_code == 0
    assert both.stdout == one.stdout


def test_dev_zero_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    result = render("--key-file", "/dev/zero", env={"PGRENDER_KEY": None})
    assert result.returncode == 2, result.stderr[-2000:]
    assert (
        result.stderr
        == f"pgrender: /dev/zero: more than {keys.MAX_KEY_FILE_BYTES} bytes; expected 64 hexadecimal characters\n"
    )


def test_a_large_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.key"
    path.write_text(OWN_KEY + "\n" + " " * keys.MAX_KEY_FILE_BYTES)
    path.chmod(0o600)
    with pytest.raises(RootKeyError, match="more than 4096 bytes"):
        keys.load(str(path), {})


def test_a_fifo_without_a_writer_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "key.fifo"
    os.mkfifo(fifo)
    result = render("--key-file", str(fifo), env={"PGRENDER_KEY": None})
    assert result.returncode == 2
    assert "expected a root key of 64 hexadecimal characters" in result.stderr


def test_a_key_from_a_pipe_is_read() -> None:
    """As `--key-file <(pass show root.key)` gives it: /dev/fd/N, a pipe whose writer is still writing."""
    read_end, write_end = os.pipe()

    def write() -> None:
        time.sleep(0.2)
        os.write(write_end, (OWN_KEY + "\n").encode())
        os.close(write_end)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert keys.load(f"/dev/fd/{read_end}", {}) == bytes.fromhex(OWN_KEY)
    finally:
        writer.join(timeout=10)
        os.close(read_end)


def test_a_directory_is_not_a_key_file(tmp_path: Path) -> None:
    with pytest.raises(RootKeyError, match="cannot read the key file"):
        keys.load(str(tmp_path), {})


@pytest.mark.parametrize("how", ["file", "environment"])
@pytest.mark.parametrize("key", ["published", "zero"])
def test_the_test_key_and_the_zero_key_are_refused_by_default(tmp_path: Path, how: str, key: str) -> None:
    text = GOLDEN_KEY.read_text().strip() if key == "published" else ZERO_KEY
    env: dict[str, str | None] = {ALLOW_TEST_KEY: None, "PGRENDER_KEY": None}
    if how == "file":
        args: tuple[str, ...] = ("--key-file", str(key_file(tmp_path, text)))
    else:
        args, env["PGRENDER_KEY"] = (), text
    result = render(*args, env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "must never protect a real cluster" in result.stderr
    assert ALLOW_TEST_KEY in result.stderr
    assert text not in result.stderr


@pytest.mark.parametrize("value", [None, "", "0", "yes"])
def test_only_allow_test_key_1_allows_it(value: str | None) -> None:
    result = run_cli("render", MINIMAL, "--stdout", "--key-file", str(GOLDEN_KEY), env={ALLOW_TEST_KEY: value})
    assert result.exit_code == 2
    assert "the published test key" in result.stderr


def test_the_test_key_is_allowed_when_asked_without_a_warning_about_its_mode(tmp_path: Path) -> None:
    public = key_file(tmp_path, GOLDEN_KEY.read_text().strip(), mode=0o644)
    result = run_cli("render", MINIMAL, "--stdout", "--key-file", str(public), env={ALLOW_TEST_KEY: "1"})
    assert result.exit_code == 0
    assert result.stderr == ""


def test_make_demo_and_make_golden_allow_the_test_key() -> None:
    makefile = (Path(__file__).resolve().parent.parent / "Makefile").read_text()
    for target in ("demo", "golden"):
        body = makefile.split(f"\n{target}:", 1)[1].split("\n\n", 1)[0]
        assert "$(ALLOW_TEST_KEY)" in body, target
    assert "ALLOW_TEST_KEY := PGRENDER_ALLOW_TEST_KEY=1" in makefile


def test_a_root_key_given_as_the_key_files_name_is_not_echoed() -> None:
    key = "0123456789abcdef" * 4
    with pytest.raises(RootKeyError) as info:
        keys.load(f"./{key}", {})
    assert key not in str(info.value) and "looks like a root key: set the key in PGRENDER_KEY" in str(info.value)
