"""A seeded mutation fuzzer for specs: mutate the examples, run the real command line, check promises.

Each case is a seed. The seed picks a starting spec (an example or a golden case), one to three
mutations of its data (a key dropped, a value swapped for a hostile one, a key renamed, a list
doubled or emptied) and, for some seeds, a mutation of the YAML text itself (cut short, a byte
flipped, anchors, tags, deep nesting, control characters). The case then runs `pgrender validate`
and `pgrender render -o DIR` in process and checks what the README promises for every input:

- exit 0 or 2, never a traceback (an internal error exits 70 and prints one) or a crash;
- on exit 2, every problem carries a line and column when the file holds a document, and the
  output directory was not created;
- no secret value, private key or root key in any output stream.

`make test` runs a few hundred seeds; `make fuzz` runs thousands (PGRENDER_FUZZ_CASES).
"""

from __future__ import annotations

import base64
import copy
import json
import random
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from pgrender.cli import cli

ROOT = Path(__file__).resolve().parent.parent
KEY_FILE = ROOT / "tests" / "golden.key"
SOURCES = sorted([*(ROOT / "examples").glob("*.yaml"), *(ROOT / "golden").glob("*/spec.yaml")])

# Values that have broken parsers, validators and emitters elsewhere.
HOSTILE: tuple[Any, ...] = (
    None, True, False, 0, -1, 1, 2**31, 2**63, -(2**63), 10**400, 1.5, float("inf"), float("nan"), "", " ",
    "a" * 300, "ü" * 70, "\x00", "\x1b[31m", "line\nbreak", "tab\there", "${HOME}", "$$", "'; DROP ROLE x; --",
    "{x}", "%s%n", "0x10", "1e309", "١٢٣", "Gi", "-1Gi", "1Gi", "0", "true", "null", "~", "*", "&a", "!!int",
    "../../etc/passwd", "/x; touch /tmp/pwned #", "hostssl all all 0.0.0.0 0.0.0.0 trust", "trust",
    "10.0.0.0/33", "::1", "fe80::1%eth0", "pg_x", "public", "postgres", "A_B", "a.b", "-a-", [], {}, [[]],
    {"a": 1}, [None], ["x"] * 3,
)  # fmt: skip
BYTES = ("\x07", "\ufffd", "\udcff", "\x85", "'", '"', "{", "[", ":", "#", "&", "*")  # \udcff: the byte 0xff
TAGS = ("!!int nope", "!!bool maybe", "!!timestamp 2001-13-45", "!!binary ===", "!!python/name:os.system", "!custom x")
TEXT_MUTATIONS = ("cut", "byte", "line", "anchor", "tag", "nest", "control", "tabs", "bom", "merge")
POSITIONLESS = ("no YAML document found",)  # an empty file has no position to give


@dataclass(frozen=True)
class Case:
    seed: int
    source: Path
    text: str
    mutations: tuple[str, ...]

    def describe(self) -> str:
        return f"seed {self.seed} from {self.source.relative_to(ROOT)}: {', '.join(self.mutations)}"


def make_case(seed: int) -> Case:
    """The input of one seed: same seed, same text, on every machine.

    Half the seeds make plausible changes to a valid spec (most of them still render, so secrets,
    emit and write run); the other half make hostile ones (most are refused, so errors run).
    """
    rng = random.Random(seed)
    done: list[str] = []
    if rng.random() < 0.5:
        source = rng.choice(VALID_SOURCES)
        data = yaml.safe_load(source.read_text())
        for _ in range(rng.randint(1, 4)):
            edit = rng.choice(PLAUSIBLE)
            edit(rng, data["spec"] if edit is not _rename else data)
            done.append(edit.__name__.strip("_"))
    else:
        source = rng.choice(SOURCES)
        data = yaml.safe_load(source.read_text())
    for _ in range(0 if done else rng.randint(1, 3)):
        data, what = _mutate_data(rng, data)
        done.append(what)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10**6)
    if rng.random() < 0.35:
        text, what = _mutate_text(rng, text)
        done.append(what)
    return Case(seed, source, text, tuple(done))


# Plausible edits of a valid spec, with values near the limits that matter.
def _name(rng: random.Random, longest: int, alphabet: str = "abcdefghijklmnopqrstuvwxyz0123456789-") -> str:
    size = rng.choice((1, 2, 8, longest - 1, longest, rng.randint(1, longest)))
    return rng.choice("abcdefghijklmnopqrstuvwxyz") + "".join(rng.choice(alphabet) for _ in range(size - 1))


def _rename(rng: random.Random, doc: dict[str, Any]) -> None:
    doc["metadata"]["name"] = _name(rng, 44).rstrip("-") or "x"


def _users(rng: random.Random, spec: dict[str, Any]) -> None:
    names = sorted(
        {_name(rng, 30, "abcdefghijklmnopqrstuvwxyz0123456789_-").rstrip("-_") or "u" for _ in range(rng.randint(1, 6))}
    )
    spec["users"] = [
        {
            "name": name,
            "databases": [f"db{rng.randint(0, 3)}"] if rng.random() < 0.7 else [],
            "options": {k: rng.random() < 0.5 for k in rng.sample(["createdb", "login", "bypassrls", "inherit"], 2)},
            "passwordRotation": rng.randint(0, 3),
        }
        for name in names
    ]


def _replicas(rng: random.Random, spec: dict[str, Any]) -> None:
    spec["instances"][0]["replicas"] = rng.randint(1, 5)


def _instance_set(rng: random.Random, spec: dict[str, Any]) -> None:
    spec["instances"].append({"name": _name(rng, 12).rstrip("-") or "s", "replicas": rng.randint(1, 3),
                              "dataVolume": {"size": rng.choice(("1Gi", "10Gi", "512Mi", "1Ti"))},
                              "walVolume": {"size": "2Gi", "storageClassName": "fast"}})  # fmt: skip


def _metadata(rng: random.Random, spec: dict[str, Any]) -> None:
    target = rng.choice(spec["instances"])
    target["metadata"] = {
        "labels": {rng.choice(("team", "example.com/tier", "a")): rng.choice(("x", "a-b.c", "v1", "0"))},
        "annotations": {rng.choice(("note", "example.com/x")): rng.choice(("${x}", "$$", "ü ✓", "a\nb", "", "yes"))},
    }


def _pg_hba(rng: random.Random, spec: dict[str, Any]) -> None:
    rules = ("hostssl all all 10.0.0.0/8 scram-sha-256", "hostssl app app 192.168.0.0/16 scram-sha-256 # ${x}",
             "host all all 0.0.0.0/0 reject", "hostssl all all 10.0.0.0 255.0.0.0 scram-sha-256",
             'hostssl "all" all ::1/128 cert', "hostssl all all 10.0.0.0/8 trust", "local all all peer")  # fmt: skip
    spec.setdefault("patroni", {})["pgHBA"] = rng.sample(rules, rng.randint(1, 3))


def _parameters(rng: random.Random, spec: dict[str, Any]) -> None:
    pool = {"work_mem": ("4MB", "64kB", 1024, "1TB"), "max_connections": (100, 1, 262143, "lots"),
            "log_min_duration_statement": (250, "1s", -1), "shared_buffers": ("128MB", "1GB"),
            "synchronous_commit": ("on", "remote_apply", "maybe"), "Work_Mem": ("8MB",), "jit": (True, False),
            "application_name": ("${app}", "$$", "ü")}  # fmt: skip
    chosen = rng.sample(sorted(pool), rng.randint(1, 3))
    spec.setdefault("patroni", {})["parameters"] = {k: rng.choice(pool[k]) for k in chosen}


def _pgbouncer(rng: random.Random, spec: dict[str, Any]) -> None:
    spec["proxy"] = {"pgBouncer": {"replicas": rng.randint(1, 3), "poolMode": rng.choice(("session", "transaction")),
                                   "defaultPoolSize": rng.choice((1, 20, 100))}}  # fmt: skip


def _service(rng: random.Random, spec: dict[str, Any]) -> None:
    kind = rng.choice(("NodePort", "LoadBalancer", "ClusterIP"))
    service: dict[str, Any] = {"type": kind}
    if kind == "NodePort":
        service["nodePort"] = rng.choice((30000, 32767, rng.randint(30000, 32767)))
    if kind == "LoadBalancer":
        service["loadBalancerSourceRanges"] = rng.sample(["10.0.0.0/8", "2001:db8::/32", "192.168.1.1/32"], 2)
    spec[rng.choice(("service", "replicaService"))] = service


def _tls(rng: random.Random, spec: dict[str, Any]) -> None:
    spec["tls"] = {"extraSANs": rng.sample(["db.example.com", "10.0.0.5", "2001:db8::1", "*.example.com"], 2),
                   "rotation": rng.randint(0, 5), "validityDays": rng.choice((1, 365, 36500))}  # fmt: skip


def _patroni(rng: random.Random, spec: dict[str, Any]) -> None:
    patroni = spec.setdefault("patroni", {})
    patroni["synchronousMode"] = rng.random() < 0.5
    patroni["leaderLeaseDurationSeconds"] = rng.choice((12, 30, 3600))


PLAUSIBLE = (_rename, _users, _replicas, _instance_set, _metadata, _pg_hba, _parameters, _pgbouncer, _service, _tls,
             _patroni)  # fmt: skip
VALID_SOURCES = [p for p in SOURCES if not p.parent.name.startswith("error-")]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


def _mutate_data(rng: random.Random, data: Any) -> tuple[Any, str]:
    data = copy.deepcopy(data)
    paths = [p for p in _paths(data) if p]
    if not paths:
        return rng.choice(HOSTILE), "document replaced"
    path = rng.choice(paths)
    parent, last = _at(data, path[:-1]), path[-1]
    where = ".".join(map(str, path))
    kind = rng.randrange(7)
    if kind == 0:
        del parent[last]
        return data, f"dropped {where}"
    if kind == 1:
        value = rng.choice(HOSTILE)
        parent[last] = copy.deepcopy(value)
        return data, f"{where} = {value!r:.40}"
    if kind == 2 and isinstance(parent, dict):
        new = rng.choice(("Name", "name ", "colour", "str", "int", "a[0]", "__class__", "ü", "replicas", "spec"))
        parent[new] = parent.pop(last)
        return data, f"renamed {where} to {new!r}"
    if kind == 3 and isinstance(parent[last], list):
        items = parent[last]
        parent[last] = items * rng.choice((0, 2, 5))
        return data, f"{where} resized to {len(parent[last])}"
    if kind == 4 and isinstance(parent[last], str):
        text = parent[last]
        parent[last] = rng.choice((text.upper(), text + "_x", text * 9, text[:1], "-" + text, text + "\u200b"))
        return data, f"{where} altered"
    if kind == 5 and isinstance(parent[last], int) and not isinstance(parent[last], bool):
        parent[last] = parent[last] + rng.choice((-1, 1, -(10**6), 10**6))
        return data, f"{where} moved"
    if kind == 6 and isinstance(parent[last], dict):
        parent[last][rng.choice(("extra", "bogusField", "$ref", "0"))] = rng.choice(HOSTILE)
        return data, f"{where} got a key"
    parent[last] = copy.deepcopy(rng.choice(HOSTILE))
    return data, f"{where} replaced"


def _mutate_text(rng: random.Random, text: str) -> tuple[str, str]:
    lines = text.splitlines(keepends=True)
    what = rng.choice(TEXT_MUTATIONS)
    at = rng.randrange(max(1, len(text)))
    line = rng.randrange(max(1, len(lines)))
    if what == "cut":
        return text[:at], what
    if what == "byte":
        return text[:at] + rng.choice(
            ("\x07", "\ufffd", "\udcff", "\x85", "'", '"', "{", "[", ":", "#", "&", "*")
        ) + text[at:], what
    if what == "line":
        return "".join(lines[: line + 1] + lines[line:]), what
    if what == "anchor":
        return "bomb: &a [x, x, x, x, x, x, x, x]\n" + "".join(
            f"b{i}: &a{i} [*{'a' if i == 0 else f'a{i - 1}'}, *{'a' if i == 0 else f'a{i - 1}'}]\n" for i in range(12)
        ) + text, what
    if what == "tag":
        tag = rng.choice(
            (
                "!!int nope",
                "!!bool maybe",
                "!!timestamp 2001-13-45",
                "!!binary ===",
                "!!python/name:os.system",
                "!custom x",
            )
        )
        return re.sub(r": (\S+)\n", f": {tag}\n", text, count=1), what
    if what == "nest":
        depth = rng.choice((50, 200, 1000, 30000))
        return text + "deep: " + "[" * depth + "]" * depth + "\n", what
    if what == "control":
        return text[:at] + rng.choice(("\x00", "\x01", "\x1f", "\x7f", "\u2028")) + text[at:], what
    if what == "tabs":
        return text.replace("  ", "\t", 1), what
    if what == "bom":
        return "\ufeff" + text, what
    return "base: &b {x: 1}\n" + text.replace("spec:\n", "spec:\n  <<: *b\n", 1), what


@dataclass(frozen=True)
class Outcome:
    command: str
    exit_code: int
    stdout: str
    stderr: str


def run(args: list[str]) -> Outcome:
    result = CliRunner().invoke(cli, args, catch_exceptions=True)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += f"\nuncaught {type(result.exception).__name__}: {result.exception}"
    return Outcome(" ".join(args[:1]), result.exit_code, result.stdout, stderr)


@cache
def secret_material() -> tuple[str, ...]:
    """Strings that must never reach an output stream: the root key, and every Secret value (and its
    base64) that this key derives for the fuzzed sources."""
    found = {KEY_FILE.read_text().strip()}
    for source in SOURCES:
        result = run(["render", str(source), "--stdout", "--key-file", str(KEY_FILE)])
        if result.exit_code != 0:
            continue
        for doc in yaml.safe_load_all(result.stdout):
            if doc and doc.get("kind") == "Secret":
                for encoded in (doc.get("data") or {}).values():
                    found.add(encoded)
                    found.update(line for line in base64.b64decode(encoded).decode().splitlines() if len(line) >= 16)
    return tuple(sorted(s for s in found if len(s) >= 16))


def check(case: Case, workdir: Path) -> list[str]:
    """Every broken promise of one case (empty when it holds them all)."""
    spec = workdir / "spec.yaml"
    spec.write_bytes(case.text.encode("utf-8", "surrogateescape"))
    output = workdir / "out"
    outcomes = [
        run(["validate", "--format", "json", str(spec)]),
        run(["render", str(spec), "-o", str(output), "--key-file", str(KEY_FILE), "--format", "json"]),
    ]
    broken = []
    for outcome in outcomes:
        streams = outcome.stdout + outcome.stderr
        if outcome.exit_code not in (0, 2):
            broken.append(f"{outcome.command}: exit {outcome.exit_code}: {outcome.stderr[-2000:]}")
        if "Traceback" in streams or "uncaught" in outcome.stderr:
            broken.append(f"{outcome.command}: traceback: {outcome.stderr[-2000:]}")
        leaked = [s[:8] + "..." for s in secret_material() if s in streams]
        if leaked:
            broken.append(f"{outcome.command}: secret material in output: {leaked}")
        if outcome.exit_code == 2:
            broken += _unpositioned(outcome, case)
    render = outcomes[1]
    if render.exit_code != 0 and output.exists():
        broken.append("render: failed, yet wrote its output directory")
    if (outcomes[0].exit_code == 0) != (render.exit_code == 0) and "Traceback" not in render.stderr:
        broken.append(
            f"validate exit {outcomes[0].exit_code} but render exit {render.exit_code}: {render.stderr[-500:]}"
        )
    return broken


def _unpositioned(outcome: Outcome, case: Case) -> list[str]:
    try:
        problems = json.loads(outcome.stderr)
    except json.JSONDecodeError:
        return [f"{outcome.command}: exit 2 without a JSON problem list: {outcome.stderr[-500:]}"]
    if not isinstance(problems, list):
        return [f"{outcome.command}: problems are not a list"]
    return [
        f"{outcome.command}: no position: {p.get('path')}: {p.get('message', '')[:200]}"
        for p in problems
        if not p.get("line") and not any(m in p.get("message", "") for m in POSITIONLESS)
    ]


if __name__ == "__main__":  # python -m tests.fuzz SEED: print a case's input and what was done to it
    import sys

    for arg in sys.argv[1:]:
        case = make_case(int(arg))
        print(f"# {case.describe()}")
        sys.stdout.write(case.text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
