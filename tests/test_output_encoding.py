"""Output bytes do not depend on the locale: --stdout, check's diff and messages are UTF-8 under
LC_ALL=C (ASCII streams) and under an EUC-JP locale, byte for byte what a UTF-8 locale writes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import GOLDEN_KEY

OWNER = "Jürgen Müller — 日本語チーム"
SPEC = f"""\
apiVersion: pgrender.io/v1alpha1
kind: PostgresCluster
metadata:
  name: hippo
  namespace: db
  annotations:
    owner: "{OWNER}"
spec:
  postgresVersion: 16
  instances:
    - name: instance1
      replicas: 1
      dataVolume: {{size: 1Gi}}
  patroni:
    pgHBA:
      - "hostssl all all 10.0.0.0/8 scram-sha-256  # Zugriff für das Büro"
"""


def _euc_jp_locale() -> dict[str, str]:
    """An installed EUC-JP locale, else Python told to use EUC-JP for its streams (the same effect)."""
    installed = subprocess.run(["locale", "-a"], capture_output=True, text=True, check=False).stdout.split()
    for name in installed:
        if name.lower().replace("-", "") in ("ja_jp.eucjp", "ja_jp.ujis"):
            return {"LC_ALL": name, "PYTHONIOENCODING": ""}
    return {"LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "euc-jp"}


LOCALES = {
    "c": {"LC_ALL": "C", "PYTHONIOENCODING": ""},
    "euc-jp": _euc_jp_locale(),
}


def pgrender(locale: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("LANG", "LANGUAGE") and not k.startswith("LC_")}
    env |= {"PYTHONUTF8": "0", **locale}
    return subprocess.run(
        [sys.executable, "-m", "pgrender", *args], capture_output=True, env=env, cwd=cwd, check=False, timeout=120
    )


UTF8 = {"LC_ALL": "C.UTF-8", "PYTHONIOENCODING": ""}


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return path


@pytest.mark.parametrize("locale", LOCALES.values(), ids=LOCALES.keys())
def test_stdout_is_utf8_whatever_the_locale(spec: Path, locale: dict[str, str]) -> None:
    args = ("render", str(spec), "--stdout", "--key-file", str(GOLDEN_KEY))
    reference = pgrender(UTF8, *args)
    assert reference.returncode == 0, reference.stderr
    assert OWNER.encode("utf-8") in reference.stdout
    result = pgrender(locale, *args)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    assert result.stdout == reference.stdout


@pytest.mark.parametrize("locale", LOCALES.values(), ids=LOCALES.keys())
def test_the_check_diff_is_utf8_whatever_the_locale(spec: Path, tmp_path: Path, locale: dict[str, str]) -> None:
    out = tmp_path / "out"
    key = ("--key-file", str(GOLDEN_KEY))
    assert pgrender(UTF8, "render", str(spec), "-o", str(out), *key).returncode == 0
    spec.write_text(SPEC.replace("Jürgen", "Jörg"), encoding="utf-8")
    reference = pgrender(UTF8, "check", str(spec), "-o", str(out), *key)
    assert '+    owner: "Jörg Müller'.encode() in reference.stdout
    result = pgrender(locale, "check", str(spec), "-o", str(out), *key)
    assert (result.returncode, result.stdout) == (1, reference.stdout)


@pytest.mark.parametrize("locale", LOCALES.values(), ids=LOCALES.keys())
def test_messages_are_utf8_whatever_the_locale(spec: Path, locale: dict[str, str]) -> None:
    spec.write_text(SPEC.replace("name: hippo", "name: Jürgen"), encoding="utf-8")
    result = pgrender(locale, "validate", str(spec))
    assert result.returncode == 2
    assert "metadata.name: 'Jürgen' is not a valid name".encode() in result.stderr
