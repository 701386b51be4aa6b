"""text_memo.TextMemo: what was made from a long string, held within a byte budget, the least
recently used given up first."""

from __future__ import annotations

import random
import sys
import threading

import pytest

from pgrender.text_memo import TextMemo

A, B, C = "a" * 1000, "b" * 1000, "c" * 1000
ENTRY = sys.getsizeof(A) + sys.getsizeof(A.upper())  # one held entry of these texts, made by upper()

# calls in order -> the texts held afterwards, oldest first, and how many were made
CASES = [
    ([A, A, A], [A], 1),
    ([A, B, C], [B, C], 3),  # room for two: the first given up
    ([A, B, A, C], [A, C], 3),  # A used again after B: B goes
    ([A, B, C, A], [C, A], 4),  # A given up, then made again
]


@pytest.mark.parametrize(("calls", "held", "made"), CASES, ids=range(len(CASES)))
def test_least_recently_used_given_up_first(calls: list[str], held: list[str], made: int) -> None:
    memo = TextMemo(str.upper, 2 * ENTRY)
    assert [memo(text) for text in calls] == [text.upper() for text in calls]
    assert [key[0] for key in memo._held] == held
    assert (memo.misses, memo.bytes) == (made, len(held) * ENTRY)


def test_more_arguments_are_part_of_the_key() -> None:
    memo = TextMemo(lambda text, indent: " " * indent + text, 10 * ENTRY)
    assert (memo(A, 2), memo(A, 4), memo(A, 2)) == ("  " + A, "    " + A, "  " + A)
    assert (len(memo), memo.misses, memo.hits) == (2, 2, 1)


def test_what_is_larger_than_the_budget_is_made_and_not_held() -> None:
    memo = TextMemo(str.upper, ENTRY - 1)
    assert memo(A) == memo(A) == A.upper()
    assert (len(memo), memo.bytes, memo.misses) == (0, 0, 2)


def test_threads_keep_the_count_true() -> None:
    memo = TextMemo(str.upper, 5 * ENTRY)
    texts = [chr(ord("a") + i) * (900 + 50 * i) for i in range(12)]
    wrong: list[object] = []  # what a thread saw or raised: an exception in a thread fails nothing

    def calls(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(3000):
                text = rng.choice(texts)
                if memo(text) != text.upper():
                    wrong.append(text)
        except Exception as exc:
            wrong.append(exc)

    threads = [threading.Thread(target=calls, args=(seed,)) for seed in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert wrong == []
    assert memo.bytes == sum(sys.getsizeof(key[0]) + sys.getsizeof(made) for key, made in memo._held.items())
    assert memo.bytes <= 5 * ENTRY and memo.hits + memo.misses == 4 * 3000
