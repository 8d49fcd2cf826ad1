"""Broker statistics: BrokerStatsManager-style counters and StoreStatsService-style TPS windows.

Storage spec 11.1 / 11.2. Two kinds of figures:

* **Stat sets** (``TOPIC_PUT_NUMS``, ``GROUP_GET_NUMS`` …): per key a :class:`StatsItem` holding a
  running ``value`` (sum) and ``times`` (number of additions). :meth:`BrokerStatsManager.sample`
  snapshots every item; the minute window keeps 7 snapshots 10 s apart, the hour window 7 snapshots
  10 min apart, the day window 25 snapshots 1 h apart. A window's ``sum`` / ``tps`` / ``avgpt`` are
  computed between its oldest snapshot and *now* (the live counters), so a window is meaningful as
  soon as one snapshot exists. Keys are joined with ``@`` as in Apache.
* **Store totals** (puts, found/missed gets, transferred messages) sampled once a second for the
  ``putTps`` / ``getTransferedTps`` … strings of GET_BROKER_RUNTIME_INFO ("t10 t60 t600").

Everything runs on the broker's event loop: plain ints and dicts, no locks.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import time
from dataclasses import dataclass, field

from broker_core.tasks import cancel_and_wait

TOPIC_PUT_NUMS = "TOPIC_PUT_NUMS"
TOPIC_PUT_SIZE = "TOPIC_PUT_SIZE"
QUEUE_PUT_NUMS = "QUEUE_PUT_NUMS"
QUEUE_PUT_SIZE = "QUEUE_PUT_SIZE"
GROUP_GET_NUMS = "GROUP_GET_NUMS"
GROUP_GET_SIZE = "GROUP_GET_SIZE"
QUEUE_GET_NUMS = "QUEUE_GET_NUMS"
QUEUE_GET_SIZE = "QUEUE_GET_SIZE"
GROUP_GET_LATENCY = "GROUP_GET_LATENCY"
SNDBCK_PUT_NUMS = "SNDBCK_PUT_NUMS"
BROKER_PUT_NUMS = "BROKER_PUT_NUMS"
BROKER_GET_NUMS = "BROKER_GET_NUMS"

STATS_NAMES = (
    TOPIC_PUT_NUMS, TOPIC_PUT_SIZE, QUEUE_PUT_NUMS, QUEUE_PUT_SIZE, GROUP_GET_NUMS, GROUP_GET_SIZE,
    QUEUE_GET_NUMS, QUEUE_GET_SIZE, GROUP_GET_LATENCY, SNDBCK_PUT_NUMS, BROKER_PUT_NUMS, BROKER_GET_NUMS,
)  # fmt: skip

#: (snapshot period s, snapshots kept) of the minute, hour and day windows (``StatsItem``)
MINUTE = (10.0, 7)
HOUR = (600.0, 7)
DAY = (3600.0, 25)

#: upper bounds (ms, inclusive) of the put-latency buckets of ``putMessageDistributeTime``
_LATENCY_BOUNDS = (0, 10, 50, 100, 200, 500, 1000, 2000, 3000, 4000, 5000, 10000)
_LATENCY_LABELS = (
    "[<=0ms]", "[0~10ms]", "[10~50ms]", "[50~100ms]", "[100~200ms]", "[200~500ms]", "[500ms~1s]",
    "[1~2s]", "[2~3s]", "[3~4s]", "[4~5s]", "[5~10s]", "[10s~]",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    """One window of one item: ``sum`` added, ``tps`` per second, ``avgpt`` = sum / additions."""

    sum: int
    tps: float
    avgpt: float

    def to_json(self) -> dict[str, float | int]:
        return {"sum": self.sum, "tps": self.tps, "avgpt": self.avgpt}


@dataclass(slots=True)
class StatsItem:
    """A running sum and count, plus the snapshots of the three windows."""

    value: int = 0
    times: int = 0
    minute: collections.deque[tuple[float, int, int]] = field(
        default_factory=lambda: collections.deque(maxlen=MINUTE[1])
    )
    hour: collections.deque[tuple[float, int, int]] = field(
        default_factory=lambda: collections.deque(maxlen=HOUR[1])
    )
    day: collections.deque[tuple[float, int, int]] = field(
        default_factory=lambda: collections.deque(maxlen=DAY[1])
    )

    def add(self, value: int, times: int = 1) -> None:
        self.value += value
        self.times += times

    def window(self, points: collections.deque[tuple[float, int, int]], now: float) -> StatsSnapshot:
        if not points:
            return StatsSnapshot(0, 0.0, 0.0)
        ts0, v0, t0 = points[0]
        total, times = self.value - v0, self.times - t0
        elapsed = now - ts0
        tps = total / elapsed if elapsed > 0 else 0.0
        return StatsSnapshot(total, tps, total / times if times else 0.0)


class BrokerStatsManager:
    """The stat sets of one broker; ``sample`` is driven by :meth:`start` (or by tests directly)."""

    def __init__(self, cluster_name: str = "DefaultCluster", *, detail: bool = True) -> None:
        self.cluster_name = cluster_name
        self.detail = detail
        self.sets: dict[str, dict[str, StatsItem]] = {name: {} for name in STATS_NAMES}
        self.store = StoreStats()
        #: (topic, queue) -> the StatsItems one put adds to (items are never removed from ``sets``)
        self._put_items: dict[tuple[str, int], tuple[StatsItem, ...]] = {}
        self._task: asyncio.Task[None] | None = None
        self._ticks = 0

    # ---- increments (hot path: a dict lookup and two adds per figure) -------------------------
    def _item(self, name: str, key: str) -> StatsItem:
        table = self.sets[name]
        item = table.get(key)
        if item is None:
            item = table[key] = StatsItem()
            now = time.time()
            # a zero point at creation, so the first windows start when the key first appears
            item.minute.append((now, 0, 0))
            item.hour.append((now, 0, 0))
            item.day.append((now, 0, 0))
        return item

    def on_put(self, topic: str, queue_id: int, nums: int, size: int, latency_ms: float) -> None:
        """A successful put of ``nums`` messages (``size`` bytes) to ``topic``/``queue_id``."""
        items = self._put_items.get((topic, queue_id))
        if items is None:
            items = self._put_items[(topic, queue_id)] = self._put_items_of(topic, queue_id)
        for i in range(0, len(items) - 1, 2):
            item = items[i]
            item.value += nums
            item.times += 1
            item = items[i + 1]
            item.value += size
            item.times += 1
        item = items[-1]
        item.value += nums
        item.times += 1
        self.store.on_put(nums, size, latency_ms)

    def _put_items_of(self, topic: str, queue_id: int) -> tuple[StatsItem, ...]:
        """(nums, size) items of the topic [and queue], then the broker's nums item (put hot path)."""
        items = [self._item(TOPIC_PUT_NUMS, topic), self._item(TOPIC_PUT_SIZE, topic)]
        if self.detail:
            qkey = f"{topic}@{queue_id}"
            items += [self._item(QUEUE_PUT_NUMS, qkey), self._item(QUEUE_PUT_SIZE, qkey)]
        items.append(self._item(BROKER_PUT_NUMS, self.cluster_name))
        return tuple(items)

    def on_put_failed(self) -> None:
        self.store.put_failed += 1

    def on_get(self, topic: str, group: str, queue_id: int, nums: int, size: int) -> None:
        """A pull that found ``nums`` messages (``size`` bytes)."""
        gkey = f"{topic}@{group}"
        self._item(GROUP_GET_NUMS, gkey).add(nums)
        self._item(GROUP_GET_SIZE, gkey).add(size)
        if self.detail:
            qkey = f"{topic}@{queue_id}@{group}"
            self._item(QUEUE_GET_NUMS, qkey).add(nums)
            self._item(QUEUE_GET_SIZE, qkey).add(size)
        self._item(BROKER_GET_NUMS, self.cluster_name).add(nums)
        self.store.get_found += 1
        self.store.get_transferred += nums

    def on_get_miss(self) -> None:
        self.store.get_miss += 1

    def on_send_back(self, topic: str, group: str) -> None:
        self._item(SNDBCK_PUT_NUMS, f"{topic}@{group}").add(1)

    # ---- reading ------------------------------------------------------------------------------
    def view(self, name: str, key: str) -> dict[str, StatsSnapshot] | None:
        """``{statsMinute, statsHour, statsDay}`` of one item, or None when unknown."""
        item = self.sets.get(name, {}).get(key)
        if item is None:
            return None
        now = time.time()
        return {
            "statsMinute": item.window(item.minute, now),
            "statsHour": item.window(item.hour, now),
            "statsDay": item.window(item.day, now),
        }

    def minute_tps(self, name: str, key: str) -> float:
        item = self.sets.get(name, {}).get(key)
        return item.window(item.minute, time.time()).tps if item is not None else 0.0

    # ---- sampling -----------------------------------------------------------------------------
    def sample(self, now: float | None = None, *, hour: bool = False, day: bool = False) -> None:
        """Snapshot every item into the minute window (and hour/day windows when asked)."""
        ts = time.time() if now is None else now
        for table in self.sets.values():
            for item in table.values():
                point = (ts, item.value, item.times)
                item.minute.append(point)
                if hour:
                    item.hour.append(point)
                if day:
                    item.day.append(point)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self._ticks += 1
            self.store.sample()
            if self._ticks % int(MINUTE[0]) == 0:
                self.sample(
                    hour=self._ticks % int(HOUR[0]) == 0,
                    day=self._ticks % int(DAY[0]) == 0,
                )


class StoreStats:
    """Totals of the store and their one-second samples (``StoreStatsService``)."""

    WINDOWS = (10, 60, 600)

    def __init__(self) -> None:
        self.boot_timestamp = int(time.time() * 1000)
        self.put_times = 0
        self.put_size = 0
        self.put_failed = 0
        self.put_max_ms = 0.0
        self.get_found = 0
        self.get_miss = 0
        self.get_transferred = 0
        self.latency_buckets = [0] * len(_LATENCY_LABELS)
        self.samples: collections.deque[tuple[float, int, int, int, int]] = collections.deque(maxlen=601)
        # put/get totals at local midnight (msgPutTotalTodayMorning …)
        self.day_marks: dict[str, int] = {
            "msgPutTotalYesterdayMorning": 0, "msgPutTotalTodayMorning": 0,
            "msgGetTotalYesterdayMorning": 0, "msgGetTotalTodayMorning": 0,
        }  # fmt: skip
        self._day = time.localtime().tm_yday
        self.sample()

    def on_put(self, nums: int, size: int, latency_ms: float) -> None:
        self.put_times += nums
        self.put_size += size
        if latency_ms > self.put_max_ms:
            self.put_max_ms = latency_ms
        self.latency_buckets[bisect.bisect_left(_LATENCY_BOUNDS, latency_ms)] += 1

    def sample(self, now: float | None = None) -> None:
        ts = time.monotonic() if now is None else now
        self.samples.append((ts, self.put_times, self.get_found, self.get_miss, self.get_transferred))
        day = time.localtime().tm_yday
        if day != self._day:
            self._day = day
            marks = self.day_marks
            marks["msgPutTotalYesterdayMorning"] = marks["msgPutTotalTodayMorning"]
            marks["msgGetTotalYesterdayMorning"] = marks["msgGetTotalTodayMorning"]
            marks["msgPutTotalTodayMorning"] = self.put_times
            marks["msgGetTotalTodayMorning"] = self.get_transferred

    def tps(self, column: int) -> str:
        """``"t10 t60 t600"`` (each as Java prints a double) of one sampled column (1 puts, 2 found, 3 miss, 4 transferred; 0 all gets)."""
        now = (time.monotonic(), self.put_times, self.get_found, self.get_miss, self.get_transferred)
        parts: list[str] = []
        for window in self.WINDOWS:
            first = None
            for point in self.samples:
                if now[0] - point[0] <= window + 0.5:
                    first = point
                    break
            if first is None or now[0] - first[0] <= 0:
                parts.append("")
                continue
            if column == 0:
                delta: float = (now[2] - first[2]) + (now[3] - first[3])
            else:
                delta = now[column] - first[column]
            parts.append(repr(delta / (now[0] - first[0])))  # Java's Double.toString
        return " ".join(parts)

    def latency_percentile(self, q: float) -> float:
        total = sum(self.latency_buckets)
        if total == 0:
            return 0.0
        target = total * q
        seen = 0
        for i, count in enumerate(self.latency_buckets):
            seen += count
            if seen >= target:
                return float(_LATENCY_BOUNDS[i] if i < len(_LATENCY_BOUNDS) else 10000)
        return 10000.0

    def distribute_text(self) -> str:
        return " ".join(
            f"{label}:{n}" for label, n in zip(_LATENCY_LABELS, self.latency_buckets, strict=True)
        )


def runtime_text(boot_ms: int) -> str:
    """Apache's ``runtime`` value: ``[ d days, h hours, m minutes, s seconds ]``."""
    secs = max(int(time.time() * 1000) - boot_ms, 0) // 1000
    days, rem = divmod(secs, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, seconds = divmod(rem, 60)
    return f"[ {days} days, {hours} hours, {minutes} minutes, {seconds} seconds ]"


def human_size(n: int) -> str:
    """``0 B``, ``1.2 KiB`` … as Apache's ``humanReadableByteCount(n, false)``."""
    if n < 1024:
        return f"{n} B"
    exp = 0
    value = float(n)
    while value >= 1024 and exp < 6:
        value /= 1024
        exp += 1
    return f"{value:.1f} {'KMGTPE'[exp - 1]}iB"
