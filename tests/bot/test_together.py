"""Group commits of small writes (bot/together.py): groups, limits and failures."""

from __future__ import annotations

import asyncio

import pytest

from bot.together import Together


class Bad(Exception):
    pass


async def test_items_asked_for_at_once_go_in_groups_of_at_most_the_limit() -> None:
    groups: list[list[int]] = []

    async def write(items: list[int]) -> list[int]:
        groups.append(items)
        await asyncio.sleep(0)
        return [item * 10 for item in items]

    together: Together[int, int] = Together(write, limit=3)
    results = await asyncio.gather(*(together(n) for n in range(7)))
    assert results == [n * 10 for n in range(7)]
    # Asked for before the writer ran: in order, three at most a group.
    assert groups == [[0, 1, 2], [3, 4, 5], [6]]


async def test_a_failed_group_fails_every_caller_in_it() -> None:
    async def write(items: list[int]) -> list[int]:
        if 2 in items:
            raise Bad(items)
        return items

    together: Together[int, int] = Together(write, limit=2)
    results = await asyncio.gather(*(together(n) for n in range(4)), return_exceptions=True)
    assert results[:2] == [0, 1]  # the first group had no bad item
    assert all(isinstance(r, Bad) for r in results[2:])  # 3 fails with 2, in its group


async def test_alone_on_failure_a_bad_item_fails_alone() -> None:
    async def write(items: list[int]) -> list[int]:
        if 2 in items:
            raise Bad(items)
        return items

    together: Together[int, int] = Together(write, alone_on_failure=True)
    results = await asyncio.gather(*(together(n) for n in range(4)), return_exceptions=True)
    assert results[:2] == [0, 1] and results[3] == 3
    assert isinstance(results[2], Bad)
    with pytest.raises(Bad):
        await together(2)
