"""The virtual-time asyncio loop the worker-pool driver plays scenarios on."""

from __future__ import annotations

import time

import anyio

from dskata.drivers._virtual_time import VirtualTimeLoop


def _run(main):  # type: ignore[no-untyped-def]
    return anyio.run(main, backend="asyncio", backend_options={"loop_factory": VirtualTimeLoop})


def test_time_starts_at_zero_and_jumps_to_each_timer_at_once() -> None:
    seen: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await anyio.sleep(seconds)
        seen.append((name, anyio.current_time()))

    async def main() -> float:
        assert anyio.current_time() == 0.0
        async with anyio.create_task_group() as tg:
            tg.start_soon(sleeper, "long", 86_400.0 * 3)  # beyond asyncio's longest select()
            tg.start_soon(sleeper, "short", 1.5)
            tg.start_soon(sleeper, "middle", 60.0)
        return anyio.current_time()

    started = time.perf_counter()
    end = _run(main)
    assert time.perf_counter() - started < 2.0
    assert [name for name, _ in seen] == ["short", "middle", "long"]
    assert [round(t, 6) for _, t in seen] == [1.5, 60.0, 259_200.0]
    assert round(end, 6) == 259_200.0


def test_time_does_not_move_while_a_task_is_ready() -> None:
    async def main() -> float:
        start = anyio.current_time()
        for _ in range(1000):
            await anyio.lowlevel.checkpoint()
        return anyio.current_time() - start

    assert _run(main) == 0.0


def test_deadlines_fire_in_virtual_time() -> None:
    async def main() -> tuple[bool, float]:
        with anyio.move_on_after(5.0) as scope:
            await anyio.Event().wait()
        return scope.cancelled_caught, anyio.current_time()

    caught, now = _run(main)
    assert caught and round(now, 6) == 5.0
