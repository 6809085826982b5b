"""The virtual clock: simulated time for timers and sleeps, real time for the harness."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest

from nexus_testkit import PluginTimeoutError
from nexus_testkit._deadlines import Deadline, run_with_timeout
from nexus_testkit._realtime import real_io, real_monotonic
from nexus_testkit.world import ClockError, VirtualClock, _clock


@pytest.mark.asyncio
async def test_advancing_900_s_runs_a_300_s_loop_three_times() -> None:
    syncs: list[float] = []

    async def plugin_loop() -> None:
        while True:
            await asyncio.sleep(300)
            syncs.append(time.monotonic())

    async with VirtualClock() as clock:
        start = time.monotonic()
        task = asyncio.create_task(plugin_loop())
        await clock.advance(900)
        assert len(syncs) == 3
        assert [round(s - start) for s in syncs] == [300, 600, 900]
        await clock.advance(299)
        assert len(syncs) == 3
        await clock.advance(1)
        assert len(syncs) == 4
        task.cancel()


@pytest.mark.asyncio
async def test_sleeps_timers_wait_for_and_the_wall_clock_agree() -> None:
    seen: list[tuple[str, float, float, float]] = []

    async with VirtualClock() as clock:
        loop = asyncio.get_running_loop()
        t0, w0, d0 = loop.time(), time.time(), dt.datetime.now(dt.UTC)

        def note(what: str) -> None:
            elapsed_wall = (dt.datetime.now(dt.UTC) - d0).total_seconds()
            seen.append((what, loop.time() - t0, time.time() - w0, elapsed_wall))

        async def sleeper() -> None:
            await asyncio.sleep(5)
            note("sleep 5")

        async def waiter() -> None:
            try:
                await asyncio.wait_for(asyncio.Event().wait(), 7)
            except TimeoutError:
                note("wait_for 7 timed out")

        loop.call_later(10, note, "call_later 10")
        tasks = [asyncio.create_task(sleeper()), asyncio.create_task(waiter())]
        await clock.advance(20)
        await asyncio.gather(*tasks)
        assert clock.elapsed == pytest.approx(20, abs=0.5)
        assert (clock.now - d0).total_seconds() == pytest.approx(20, abs=0.5)

    assert [what for what, *_ in seen] == ["sleep 5", "wait_for 7 timed out", "call_later 10"]
    for (_, looped, wall, wall_dt), expected in zip(seen, [5, 7, 10], strict=True):
        assert looped == pytest.approx(expected, abs=0.5)
        assert wall == pytest.approx(expected, abs=0.5)
        assert wall_dt == pytest.approx(expected, abs=0.5)


@pytest.mark.asyncio
async def test_short_real_sleeps_and_threads_complete_without_advancing() -> None:
    async with VirtualClock():
        await asyncio.sleep(0.01)  # real time flows: no advance() needed
        assert await asyncio.to_thread(lambda: 42) == 42


@pytest.mark.asyncio
async def test_advance_waits_for_a_threads_result_before_moving_on() -> None:
    steps: list[str] = []

    async def job() -> None:
        steps.append(await asyncio.to_thread(lambda: (time.sleep(0.05), "thread")[1]))
        await asyncio.sleep(60)
        steps.append("after 60 s")

    async with VirtualClock() as clock:
        task = asyncio.create_task(job())
        await clock.advance(61)
        assert steps == ["thread", "after 60 s"]
        await task


@pytest.mark.asyncio
async def test_advance_waits_for_real_io_a_driver_answers_from_its_own_thread() -> None:
    # aiosqlite answers through call_soon_threadsafe from a thread of its own,
    # not run_in_executor: the platform store marks its queries with real_io()
    # so that advance() does not return while a woken task waits for one.
    import threading

    stored: dict[str, str] = {}

    async def query() -> str:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[str] = loop.create_future()

        def driver() -> None:
            time.sleep(0.05)
            loop.call_soon_threadsafe(answer.set_result, "row")

        threading.Thread(target=driver).start()
        with real_io():
            return await answer

    async def refresher() -> None:
        await asyncio.sleep(30)
        stored["stats"] = await query()

    async with VirtualClock() as clock:
        task = asyncio.create_task(refresher())
        await clock.advance(30)
        assert stored == {"stats": "row"}
        await task


@pytest.mark.asyncio
async def test_run_until_idle_runs_what_is_ready_without_moving_time() -> None:
    done: list[str] = []

    async def child() -> None:
        await asyncio.sleep(0)
        done.append("child")

    async def parent() -> None:
        await asyncio.sleep(0)
        asyncio.get_running_loop().call_soon(done.append, "callback")
        await asyncio.create_task(child())
        done.append("parent")
        await asyncio.sleep(10)
        done.append("too late")

    async with VirtualClock() as clock:
        task = asyncio.create_task(parent())
        await clock.run_until_idle()
        assert done == ["callback", "child", "parent"]
        assert clock.elapsed == 0
        task.cancel()


@pytest.mark.asyncio
async def test_the_harness_time_outs_measure_real_time() -> None:
    async def stuck_for_a_simulated_minute() -> str:
        async with Deadline(1.0, "the handler"):
            await asyncio.sleep(60)
        return "finished"

    async with VirtualClock() as clock:
        task = asyncio.create_task(stuck_for_a_simulated_minute())
        await clock.advance(60)  # 60 simulated seconds: the 1 s real deadline stays put
        assert await task == "finished"
        started = real_monotonic()
        with pytest.raises(PluginTimeoutError, match=r"did not finish within 0\.2"):
            await run_with_timeout(asyncio.Event().wait(), 0.2, "initialize()")
        assert real_monotonic() - started < 5


@pytest.mark.asyncio
async def test_leaving_restores_real_time_and_keeps_remaining_delays() -> None:
    loop = asyncio.get_running_loop()
    real = time.monotonic
    async with VirtualClock() as clock:
        assert time.monotonic is not real
        handle = loop.call_later(50, lambda: None)
        await clock.advance(10)
        assert handle.when() - loop.time() == pytest.approx(40, abs=0.5)
    assert time.monotonic is real
    assert handle.when() - loop.time() == pytest.approx(40, abs=0.5)
    assert abs(time.time() - dt.datetime.now().timestamp()) < 1
    handle.cancel()


@pytest.mark.asyncio
async def test_entering_again_is_counted_and_a_second_clock_is_refused() -> None:
    clock = VirtualClock()
    async with clock:
        async with clock:
            await clock.advance(5)
        assert clock.running
        with pytest.raises(ClockError, match="another VirtualClock is already running"):
            VirtualClock().start()
    assert not clock.running
    with pytest.raises(ClockError, match="the clock is not running"):
        await clock.advance(1)


@pytest.mark.asyncio
async def test_a_task_waking_too_often_stops_advance_with_a_message() -> None:
    async def spin() -> None:
        while True:  # noqa: ASYNC110 - a plugin's poll loop
            await asyncio.sleep(0.001)

    async with VirtualClock(max_wakeups=50) as clock:
        task = asyncio.create_task(spin())
        with pytest.raises(ClockError, match=r"advance\(3600\) stopped after 50 timer wake-ups"):
            await clock.advance(3600)
        task.cancel()


@pytest.mark.asyncio
async def test_a_per_task_cap_lets_a_fast_loop_sleep_through_the_rest() -> None:
    fast = slow = 0

    async def every_10_ms() -> None:
        nonlocal fast
        while True:
            await asyncio.sleep(0.01)
            fast += 1

    async def every_5_minutes() -> None:
        nonlocal slow
        while True:
            await asyncio.sleep(300)
            slow += 1

    async with VirtualClock(max_wakeups=1000) as clock:
        quick = asyncio.create_task(every_10_ms())
        steady = asyncio.create_task(every_5_minutes())
        # 360 000 wake-ups uncapped: far above max_wakeups, yet no ClockError.
        await clock.advance(3600, max_task_wakeups=100)
        assert slow == 12  # the slow job is not held back
        # The capped task wakes at most once more per other task's wake-up, and at the end.
        assert 100 <= fast <= 100 + 12 + 1
        assert list(clock.throttled) == [quick]
        assert clock.throttled[quick] == pytest.approx(1.0, abs=0.05)
        assert clock.elapsed == 3600
        # The cap is per advance: the next one without it is as before.
        await clock.advance(0.05)
        assert fast >= 104
        assert clock.throttled == {}
        quick.cancel()
        steady.cancel()


@pytest.mark.asyncio
async def test_timers_set_before_the_advance_count_for_their_task() -> None:
    woke = 0

    async def poll() -> None:
        nonlocal woke
        while True:
            await asyncio.sleep(1)
            woke += 1

    async with VirtualClock() as clock:
        task = asyncio.create_task(poll())
        await asyncio.sleep(0)  # its first sleep is set before the advance
        await clock.advance(60, max_task_wakeups=5)
        # Five wake-ups, then once more as the advance ends past its next timer.
        assert woke == 6
        assert list(clock.throttled) == [task]
        task.cancel()
    with pytest.raises(ValueError, match="max_task_wakeups must be a whole number from 1"):
        async with VirtualClock() as clock:
            await clock.advance(1, max_task_wakeups=0)


@pytest.mark.asyncio
async def test_a_real_time_timer_stays_real_after_a_jump() -> None:
    """A TimerHandle hashes by its due time: once moved it must still be known as real."""
    from nexus_testkit._realtime import is_real_timer, real_call_later, wait_real

    fired: list[float] = []
    done = asyncio.Event()

    def fire() -> None:
        fired.append(real_monotonic())
        done.set()

    async with VirtualClock() as clock:
        loop = asyncio.get_running_loop()
        # An hour of real time: taken for a simulated timer after the first jump, the
        # two-hour jump would fire it.  No machine is slow enough to reach it here.
        hour = real_call_later(loop, 3600, fire)
        await clock.advance(10)
        assert is_real_timer(hour)
        await clock.advance(7200)
        assert fired == []
        assert is_real_timer(hour)
        hour.cancel()
        # A moved real timer still fires on real time, not before (a bound in real
        # seconds, which the virtual clock does not move: a bug fails, not hangs).
        short = real_call_later(loop, 0.2, fire)
        start = real_monotonic()
        await clock.advance(10)
        assert is_real_timer(short)
        assert await wait_real(asyncio.ensure_future(done.wait()), 30)
        assert fired[0] - start >= 0.2


@pytest.mark.asyncio
async def test_a_loop_that_never_idles_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_clock, "_MAX_ROUNDS", 200)

    async def busy() -> None:
        while True:  # noqa: ASYNC110 - a busy task
            await asyncio.sleep(0)

    async with VirtualClock() as clock:
        task = asyncio.create_task(busy())
        with pytest.raises(ClockError, match="never went idle"):
            await clock.run_until_idle()
        task.cancel()


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="max_wakeups must be at least 1"):
        VirtualClock(max_wakeups=0)
    with pytest.raises(ValueError, match="thread_wait must be a positive number"):
        VirtualClock(thread_wait=0)


@pytest.mark.asyncio
async def test_advance_refuses_negative_time() -> None:
    async with VirtualClock() as clock:
        with pytest.raises(ValueError, match="seconds >= 0"):
            await clock.advance(-1)


CLOCK_TEST = """
import asyncio, time
import pytest
from nexus_testkit.world import VirtualClock


async def three_ticks():
    async with VirtualClock() as clock:
        ticks = []
        async def loop():
            while True:
                await asyncio.sleep(300)
                ticks.append(time.time())
        task = asyncio.create_task(loop())
        await clock.advance(900)
        assert len(ticks) == 3
        task.cancel()


async def real_time_again():
    loop = asyncio.get_running_loop()
    assert abs(loop.time() - time.monotonic()) < 1
    await asyncio.sleep(0.01)

{tests}
"""
SCOPED = """
{mark}
async def test_{name}_first():
    await three_ticks()

{mark}
async def test_{name}_second_sees_real_time_again():
    await real_time_again()
"""


@pytest.mark.parametrize(
    ("mode", "marks"),
    [
        (
            "strict",
            {
                "function": "@pytest.mark.asyncio",
                "module": '@pytest.mark.asyncio(loop_scope="module")',
            },
        ),
        ("auto", {"default": "", "session": '@pytest.mark.asyncio(loop_scope="session")'}),
    ],
)
def test_the_clock_works_in_both_modes_and_loop_scopes(
    pytester: pytest.Pytester, mode: str, marks: dict[str, str]
) -> None:
    tests = "".join(SCOPED.format(mark=mark, name=name) for name, mark in marks.items())
    pytester.makepyfile(test_clocked=CLOCK_TEST.format(tests=tests))
    result = pytester.runpytest(
        "-o",
        f"asyncio_mode={mode}",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        "-p",
        "no:randomly",
        "-W",
        "error",
    )
    result.assert_outcomes(passed=4)
