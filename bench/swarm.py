"""The load processes of bench/load.py: each opens its share of the clients and
runs the steps the parent commands, with one of two client layers.

- `picows` (the default): picows connections on uvloop (bench/wsclient.py).
  Received frames are counted in picows' callback; one scheduler per process
  sends for every sender that is due at each wake. About half the CPU per
  delivery of the websockets clients (bench/client_cost.py: 2-3 µs per frame,
  plus 7-8 µs per socket read, which at moderate rates carries one frame).
- `websockets`: the targets' own `connect` (websockets, or python-socketio's
  client for the Socket.IO peer) on the default asyncio loop, a reading task
  per connection and a sending task per sender: the generator as it was, kept
  to compare against.

Both stamp every message "<pid>|<sender>|<n>|<unix time>" and count what
arrives in a Tally; the parent (bench/load.py) sums the processes' replies.
"""

import asyncio
import gc
import os
import random
import time

from bench import wsclient
from bench.targets import revive

HANDSHAKES_IN_FLIGHT = 100  # per process: more only queues in the server's accept backlog
DRAIN_TIMEOUT = 30.0  # seconds for the last messages of a step to arrive
# The scheduler wakes at most this often and then sends for every sender due:
# a wake costs 30-50 µs of CPU on these VMs, a send a few. Sends run up to this
# late (stamped when sent, so latency stays honest; the rate is kept on average).
SEND_TICK = 0.002
CLIENTS = ("picows", "websockets")


class Tally:
    """What a process's counted connections received in a step: each connection's
    `got` (text → times it arrived), the latencies of the process's own messages
    (those in `sent_at`: no clocks of two processes compared), and an event set
    once `needed` distinct texts have arrived."""

    def __init__(self):
        self.sent_at: dict[bytes, float] = {}  # this process's texts of this step
        self.latencies: list[float] = []
        self.distinct = 0
        self.needed = -1  # not known until the parent sums what every process sent
        self.all_in = asyncio.Event()

    def reset(self) -> None:
        self.sent_at = {}
        self.latencies = []
        self.distinct = 0
        self.needed = -1
        self.all_in.clear()

    def stamp(self, pid: int, sender: int, n: int) -> str:
        """The text of a message: who sent it, and when."""
        now = time.time()
        text = f"{pid}|{sender}|{n}|{now:.6f}"
        self.sent_at[text.encode()] = now
        return text

    def expect(self, needed: int) -> None:
        self.needed = needed
        if self.distinct >= needed:
            self.all_in.set()

    def count(self, got: dict, content: bytes) -> None:
        """One chat text arrived at the connection whose dict is `got`."""
        n = got.get(content, 0)
        got[content] = n + 1
        if not n:
            self.distinct += 1
            if self.distinct == self.needed:
                self.all_in.set()
        # A lookup, not a parse of the stamp: the text's hash is cached by now.
        sent = self.sent_at.get(content)
        if sent is not None:
            self.latencies.append(time.time() - sent)


class Load:
    """One load process: its share of the clients, driven by commands from the parent."""

    def __init__(self, target, plan: list[tuple[int, object, str, bool]], slow, inbox, outbox):
        self.target, self.plan, self.inbox, self.outbox = target, plan, inbox, outbox
        self.slow: set[int] = slow  # clients that stop reading (S5)
        self.pid = os.getpid()
        self.tally = Tally()
        self.conns: dict[int, object] = {}
        self.rooms: dict[int, str] = {}
        self.got: dict[int, dict] = {}  # the counted connections' dicts, cleared each step
        self.senders = [i for i, _, _, sends in plan if sends]

    async def main(self) -> None:
        gate = asyncio.Semaphore(HANDSHAKES_IN_FLIGHT)
        timings: list[float] = []

        async def open_one(index: int, credential, room: str) -> None:
            async with gate:
                started = time.monotonic()
                self.conns[index] = await self.open(index, credential, room)
                timings.append(time.monotonic() - started)
            self.rooms[index] = room

        started = time.monotonic()
        try:
            await asyncio.gather(*(open_one(i, c, r) for i, c, r, _ in self.plan))
        except Exception as exc:  # noqa: BLE001 - the server refused: the scenario failed
            self.outbox.put(("failed", f"connecting: {exc!r}"))
            await asyncio.gather(*(c.close() for c in self.conns.values()), return_exceptions=True)
            return
        self.outbox.put(("connected", timings, time.monotonic() - started))
        self.start_reading()
        loop = asyncio.get_running_loop()
        while True:
            command = await loop.run_in_executor(None, self.inbox.get)
            if command[0] == "step":
                try:
                    await self.step(*command[1:])
                except Exception as exc:  # noqa: BLE001 - the parent fails the scenario
                    self.outbox.put(("failed", f"step: {exc!r}"))
                    break
            elif command[0] == "hold":
                await asyncio.sleep(command[1])  # holding idle sockets is the measurement
                self.outbox.put(("held",))
            else:
                break
        self.stop_reading()
        await asyncio.gather(*(c.close() for c in self.conns.values()), return_exceptions=True)
        self.outbox.put(("closed",))

    async def open(self, index: int, credential, room: str):
        raise NotImplementedError

    def start_reading(self) -> None:
        raise NotImplementedError

    def stop_reading(self) -> None:
        pass

    async def send_all(self, rate_per_sender: float, seconds: float) -> dict[int, int]:
        """Send from every sender at the rate, each from a random phase; messages
        sent per sender."""
        raise NotImplementedError

    def stamp(self, index: int, n: int) -> str:
        return self.tally.stamp(self.pid, index, n)

    async def step(self, rate_per_sender: float, seconds: float) -> None:
        for got in self.got.values():
            got.clear()
        self.tally.reset()
        disorder = self.out_of_order()
        started = time.monotonic()
        sent: dict[str, int] = {}
        for index, n in (await self.send_all(rate_per_sender, seconds)).items():
            sent[self.rooms[index]] = sent.get(self.rooms[index], 0) + n
        self.outbox.put(("sent", sent, time.monotonic() - started))
        loop = asyncio.get_running_loop()
        expected = (await loop.run_in_executor(None, self.inbox.get))[1]
        self.tally.expect(sum(expected.get(self.rooms[i], 0) for i in self.got))
        try:
            await asyncio.wait_for(self.tally.all_in.wait(), DRAIN_TIMEOUT)
        except TimeoutError:
            pass  # what is missing is counted as lost
        lost = duplicated = delivered = 0
        for index, got in self.got.items():
            delivered += sum(got.values())
            duplicated += sum(c - 1 for c in got.values())
            lost += max(0, expected.get(self.rooms[index], 0) - len(got))
        out_of_order = self.out_of_order() - disorder
        latencies = self.tally.latencies
        self.outbox.put(("result", delivered, lost, duplicated, out_of_order, latencies))

    def out_of_order(self) -> int:
        return sum(getattr(c, "out_of_order", 0) for c in self.conns.values())


class PicowsLoad(Load):
    """picows connections whose frames are counted in picows' callback, one scheduler."""

    async def open(self, index: int, credential, room: str):
        if index in self.slow:
            # Never counted, never waited for: S5 measures the others.
            return await wsclient.connect(self.target, credential, room, Tally())
        conn = await wsclient.connect(self.target, credential, room, self.tally)
        self.got[index] = conn.got
        return conn

    def start_reading(self) -> None:
        for index in self.slow & self.conns.keys():
            self.conns[index].pause()
        # The connections live until the end: the collector need not walk them again.
        gc.freeze()

    async def send_all(self, rate_per_sender: float, seconds: float) -> dict[int, int]:
        loop = asyncio.get_running_loop()
        interval = 1.0 / rate_per_sender
        # Senders start at random points of their interval: started together,
        # every sender would fire at the same instant, a burst each interval.
        # Sorted by phase, the k-th send of the process is sender k % m's
        # (k // m)-th, due at start + (k // m) * interval + its phase.
        phases = sorted((random.uniform(0, interval), index) for index in self.senders)
        conns = [self.conns[index] for _, index in phases]
        m = len(phases)
        start = loop.time()
        deadline = start + seconds
        sent = dict.fromkeys(self.senders, 0)
        done = loop.create_future()
        k = 0

        def fire() -> None:
            nonlocal k
            now = loop.time()
            while True:
                at = start + (k // m) * interval + phases[k % m][0]
                if at >= deadline:
                    done.set_result(None)
                    return
                if at > now:
                    break
                index = phases[k % m][1]
                try:
                    conns[k % m].send(self.stamp(index, k // m))
                except Exception as exc:  # noqa: BLE001 - ends the step, see Load.main
                    done.set_exception(exc)
                    return
                sent[index] += 1
                k += 1
            loop.call_at(max(at, now + SEND_TICK), fire)

        if m:
            loop.call_soon(fire)
            await done
        return sent


class WebsocketsLoad(Load):
    """The targets' own clients: a reading task per connection, a sending task per sender."""

    async def open(self, index: int, credential, room: str):
        return await self.target.connect(credential, room)

    def start_reading(self) -> None:
        self.readers = []
        for index in self.conns.keys() - self.slow:
            self.got[index] = {}
            self.readers.append(asyncio.create_task(self.read(index)))
        for index in self.slow & self.conns.keys():
            # Stop reading the socket itself, not just the frames: the server's
            # writes then fill the kernel buffers and its queue for this client.
            transport = getattr(getattr(self.conns[index], "ws", None), "transport", None)
            if transport is not None:
                transport.pause_reading()

    def stop_reading(self) -> None:
        for task in self.readers:
            task.cancel()

    async def read(self, index: int) -> None:
        conn, got = self.conns[index], self.got[index]
        while True:
            try:
                text = await conn.recv()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a closed socket shows up as missing messages
                return
            if text is not None:
                self.tally.count(got, text.encode())

    async def send_all(self, rate_per_sender: float, seconds: float) -> dict[int, int]:
        sent: dict[int, int] = {}

        async def send_from(index: int) -> None:
            interval = 1.0 / rate_per_sender
            # Random phases, as PicowsLoad's.
            deadline = time.monotonic() + seconds
            next_at = time.monotonic() + random.uniform(0, interval)
            await asyncio.sleep(next_at - time.monotonic())
            n = 0
            while next_at < deadline:
                await self.conns[index].send(self.stamp(index, n))
                n += 1
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)  # pacing the offered load
            sent[index] = n

        await asyncio.gather(*(send_from(i) for i in self.senders))
        return sent


def load_process(client: str, target_state, plan, slow, inbox, outbox) -> None:
    """A load process's entry point (spawned by bench/load.py)."""
    target = revive(target_state)
    if client == "picows":
        import uvloop

        uvloop.run(PicowsLoad(target, plan, slow, inbox, outbox).main())
    else:
        asyncio.run(WebsocketsLoad(target, plan, slow, inbox, outbox).main())
