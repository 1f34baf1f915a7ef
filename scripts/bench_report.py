#!/usr/bin/env python3
"""Turn the benchmark results into docs/benchmarks.md and docs/benchmarks.svg.

Reads (relative to the repository root, or --target DIR):
  target/criterion/<group>/<impl>/<param>/new/{benchmark,estimates}.json
  target/bench-results/channels.json   (delivery shares, skips, load)
  target/bench-results/send_tail.json  (tail latencies, allocation counts)
  target/bench-results/line_model.json (cache-line round trip, slot models;
                                        research/line_model.rs, optional)

Writes docs/benchmarks.md (absolute medians, conflate/baseline ratios, the
targets of issue #4 met or missed, machine, date, commands) and
docs/benchmarks.svg (a bar chart of the ratios). Standard library only.

Usage: python3 scripts/bench_report.py [--target DIR] [--docs DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import platform
import statistics
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CONFLATE = "conflate"
# Table order; must match benches/common/mod.rs `for_each_impl`.
IMPLS = [
    "conflate",
    "std_mutex_condvar",
    "parking_lot_mutex_condvar",
    "crossbeam_bounded1_drain",
    "std_sync_channel1_drain",
    "async_channel_force_send",
    "tokio_watch",
    "triple_buffer",
    "arc_swap",
    "atomic_swap_floor",
    "park_unpark_floor",
]
BLOCKING_ALTERNATIVES = [
    "std_mutex_condvar",
    "parking_lot_mutex_condvar",
    "crossbeam_bounded1_drain",
    "std_sync_channel1_drain",
    "async_channel_force_send",
    "tokio_watch",
]
PAYLOADS = ["u64", "64B"]
# send_idle also has the 64 bytes built by broadcast (benches/common/mod.rs).
SEND_IDLE_PAYLOADS = PAYLOADS + ["64B_splat"]
# A cache line's round trip between the CPUs more than this many times the
# best one of the same bench process means the machine was in a slow state
# (benches/common/mod.rs `SLOW_FACTOR`, argued there). Each JSON file carries
# its process's factor and best; for files written before they did, the best
# is the lowest trip the file records.
SLOW_FACTOR = 2.0


def slow_limit(data: dict | None) -> float:
    """The round trip (ns) above which a row of this bench file was measured
    in a slow state: factor x the process's best trip (infinite without
    data)."""
    if not data:
        return math.inf
    best = data.get("line_round_trip_best_ns")
    if best is None:
        trips = [x for x in data.get("line_round_trip_ns") or [] if x is not None]
        for e in data.get("states", []) + data.get("tail", []):
            for x in e.get("line_round_trip_ns", []):
                # channels: [before, after]; send_tail: one pair per repetition.
                trips += [y for y in (x if isinstance(x, list) else [x]) if y is not None]
        best = min(trips, default=None)
    return math.inf if best is None else data.get("slow_factor", SLOW_FACTOR) * best


def limit_text(data: dict | None) -> str:
    """How the slow limit of a bench file was set, for footnotes."""
    lim = slow_limit(data)
    if math.isinf(lim):
        return "no round trip recorded"
    factor = data.get("slow_factor", SLOW_FACTOR)
    return f"above {fmt_ns(lim)}, {factor:g}x the best round trip of the same process"
SETUPS = ["apart", "noisy_consumer_cpu", "noisy_producer_cpu"]
SETUP_TEXT = {
    "apart": "producer pinned to CPU 0, consumer pinned to CPU 1",
    "noisy_consumer_cpu": "as `apart`, plus a thread spinning on the consumer's CPU",
    "noisy_producer_cpu": "as `apart`, plus a thread spinning on the producer's CPU",
}


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def load_criterion(target: Path) -> dict[tuple[str, str, str], dict]:
    """(group, impl, param) -> {median, lo, hi} in nanoseconds per iteration."""
    out = {}
    for bench in sorted(target.glob("criterion/*/*/*/new/benchmark.json")):
        meta = json.loads(bench.read_text())
        est = json.loads((bench.parent / "estimates.json").read_text())
        med = est["median"]
        key = (meta["group_id"], meta["function_id"], meta["value_str"])
        out[key] = {
            "median": med["point_estimate"],
            "lo": med["confidence_interval"]["lower_bound"],
            "hi": med["confidence_interval"]["upper_bound"],
        }
    return out


def load_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


# ---------------------------------------------------------------------------
# Formatting helpers
# ---------------------------------------------------------------------------


def joined(*parts: str) -> str:
    """The non-empty parts, separated by semicolons."""
    return "; ".join(p for p in parts if p)


def fmt_ns(ns: float | None) -> str:
    if ns is None:
        return "—"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e4:
        return f"{ns / 1e3:.1f} µs"
    if ns >= 100:
        return f"{ns:.0f} ns"
    return f"{ns:.1f} ns"


def fmt_us(ns: float | None) -> str:
    return "—" if ns is None else f"{ns / 1e3:.2f} µs"


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(r: float | None) -> str:
    if r is None:
        return "—"
    if r >= 100 or r < 0.01:
        return f"{r:.2g}x"
    return f"{r:.2f}x"


def table(header: list[str], rows: list[list[str]], numeric: bool = True) -> str:
    align = ["---"] + (["--:"] if numeric else ["---"]) * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def sh(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> dict[str, str]:
    lscpu = sh(["lscpu"])
    info = {}
    for line in lscpu.splitlines():
        k, _, v = line.partition(":")
        info[k.strip()] = v.strip()
    return {
        "model": info.get("Model name", platform.processor() or "unknown"),
        "cpus": info.get("CPU(s)", "?"),
        "hypervisor": info.get("Hypervisor vendor", "none"),
        "kernel": platform.release(),
        "rustc": sh(["rustc", "-V"]),
        "mem": next(
            (
                f"{int(line.split()[1]) / 2**20:.0f} GiB"
                for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")
            ),
            "?",
        )
        if Path("/proc/meminfo").exists()
        else "?",
    }


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


class Report:
    def __init__(self, crit, channels, tail, model=None):
        self.crit = crit
        self.channels = channels or {}
        self.tail = tail or {}
        self.model = model or {}
        self.tail_slow: set[tuple[str, str, str]] = set()
        self.channels_limit = slow_limit(self.channels)
        self.tail_limit = slow_limit(self.tail)
        self.states = {
            (e["group"], e["id"], e["param"]): e["line_round_trip_ns"]
            for e in self.channels.get("states", [])
        }
        self.skips = {(s["group"], s["id"]): s["reason"] for s in self.channels.get("skipped", [])}
        self.shares = {
            (s["group"], s["id"], s["payload"]): s["share_median"]
            for s in self.channels.get("shares", [])
        }
        self.targets: list[tuple[str, str, str, bool | None, str]] = []
        self.chart: list[tuple[str, list[tuple[str, float | None]]]] = []

    def ns(self, group, impl, param):
        v = self.crit.get((group, impl, param))
        return None if v is None else v["median"]

    def cell(self, group, impl, param, fmt=fmt_ns):
        v = self.ns(group, impl, param)
        if v is None:
            return "skipped" if (group, impl) in self.skips else "—"
        return fmt(v) + (" †" if self.slow(group, impl, param) else "")

    def slow(self, group, impl, param):
        """Whether the machine was in its slow state just before or just
        after this benchmark (see slow_limit)."""
        trips = self.states.get((group, impl, param))
        return trips is not None and any(t is not None and t > self.channels_limit for t in trips)

    def slow_note(self, group, params):
        """Footnote for a group table with rows measured in the slow state."""
        marked = [
            (impl, p, self.states[(group, impl, p)])
            for impl in IMPLS
            for p in params
            if self.slow(group, impl, p)
        ]
        if not marked:
            return ""
        slow = [x for _, _, t in marked for x in t if x is not None and x > self.channels_limit]
        return (
            f"\n† {len(marked)} {'measurement was' if len(marked) == 1 else 'measurements were'} "
            "made with the machine in its slow state: a "
            "cache line's round trip between the CPUs took "
            f"{fmt_ns(min(slow))} to {fmt_ns(max(slow))} just before or just after them "
            f"(marked {limit_text(self.channels)}; every value is in "
            "`target/bench-results/channels.json`). They are not comparable with the others.\n"
        )

    @staticmethod
    def slow_text(hit):
        """Text for a target whose rows `hit` were measured in the slow state."""
        if not hit:
            return ""
        return "measured in the machine's slow state († on " + ", ".join(f"`{i}`" for i in hit) + ")"

    def slow_bound(self, group, impls, p):
        return self.slow_text([i for i in impls if self.slow(group, i, p)])

    def target(self, scenario, what, measured, ok, bound=""):
        """Records one target; `bound`, for a miss, is what the same run says
        about reaching it (a floor it would have to beat)."""
        self.targets.append((scenario, what, measured, ok, bound if ok is False else ""))

    def per_value(self, group, impl, p):
        """Time per value the consumer received: time per send / share."""
        t, s = self.ns(group, impl, p), self.shares.get((group, impl, p))
        return None if t is None or not s else t / s

    # -- criterion scenarios -------------------------------------------------

    def simple_group(self, group, params, fmt=fmt_ns, share=False):
        header = ["implementation"] + [f"{p}" for p in params]
        if share:
            header += [f"share {p}" for p in params]
        header += [f"conflate / impl ({p})" for p in params]
        rows = []
        for impl in IMPLS:
            r = [f"`{impl}`"] + [self.cell(group, impl, p, fmt) for p in params]
            if share:
                for p in params:
                    s = self.shares.get((group, impl, p))
                    r.append("—" if s is None else f"{100 * s:.1f} %")
            for p in params:
                r.append(
                    "1 (itself)"
                    if impl == CONFLATE
                    else fmt_ratio(ratio(self.ns(group, CONFLATE, p), self.ns(group, impl, p)))
                )
            rows.append(r)
        return table(header, rows)

    def chart_row(self, label, group, param):
        bars = []
        for impl in IMPLS[1:]:
            bars.append((impl, ratio(self.ns(group, CONFLATE, param), self.ns(group, impl, param))))
        self.chart.append((label, bars))

    def send_idle(self):
        g = "send_idle"
        out = "## `send_idle`: one thread overwrites, nobody receives\n\n"
        out += "Median time per `send` (criterion); the receiver is alive but idle.\n\n"
        out += (
            "`64B` is built by eight 8-byte stores, `64B_splat` (the same 64 bytes, "
            "`[seq; 8]` as a bare `[u64; 8]`) by broadcast: four 16-byte stores.\n\n"
        )
        out += self.simple_group(g, SEND_IDLE_PAYLOADS)
        for p, limit in (("u64", 1.0), ("64B", 1.5), ("64B_splat", 1.5)):
            r = ratio(self.ns(g, CONFLATE, p), self.ns(g, "parking_lot_mutex_condvar", p))
            self.target(
                g,
                f"{p}: ≤ {limit}x parking_lot Mutex+Condvar",
                fmt_ratio(r),
                None if r is None else r <= limit,
            )
        for p in PAYLOADS:
            for impl in (
                "crossbeam_bounded1_drain",
                "std_sync_channel1_drain",
                "async_channel_force_send",
                "tokio_watch",
            ):
                r = ratio(self.ns(g, CONFLATE, p), self.ns(g, impl, p))
                self.target(
                    g, f"{p}: ≥ 2x faster than `{impl}`", fmt_ratio(r), None if r is None else r <= 0.5
                )
        for p in SEND_IDLE_PAYLOADS:
            self.chart_row(f"send_idle {p}", g, p)
        return out

    def send_contended(self):
        out = ""
        for g, title, text in (
            (
                "send_contended",
                "producer on CPU 0, consumer spinning on `try_recv` on CPU 1",
                "Median time per `send` while the consumer polls; *share* is the median "
                "fraction of sent values the consumer received (the rest were overwritten, "
                "or, for the drain emulations, drained by the producer).",
            ),
            (
                "send_contended_2p",
                "two producers (CPU 0 and CPU 1) at once, consumer floating",
                "Two producers send the same number of values at once; the time is the "
                "slower producer's time divided by its sends (so aggregate throughput is "
                "two sends per that time). The consumer floats and yields whenever it "
                "finds nothing, since three busy threads share two CPUs; *share* is "
                "received / all sends.",
            ),
        ):
            out += f"## `{g}`: {title}\n\n{text}\n\n"
            out += self.simple_group(g, PAYLOADS, share=True)
            out += self.slow_note(g, PAYLOADS)
            skipped = [i for (gg, i) in self.skips if gg == g]
            if skipped:
                out += "\nSkipped: " + ", ".join(
                    f"`{i}` ({self.skips[(g, i)]})" for i in skipped
                ) + ".\n"
            out += "\n"
        g = "send_contended"
        for p in PAYLOADS:
            r = ratio(self.ns(g, CONFLATE, p), self.ns(g, "triple_buffer", p))
            sc, st = self.shares.get((g, CONFLATE, p)), self.shares.get((g, "triple_buffer", p))
            ok = None if r is None or sc is None or st is None else (r <= 1.0 and sc >= st)
            share_txt = "—" if sc is None or st is None else f"share {100 * sc:.1f} % vs {100 * st:.1f} %"
            # A polling consumer's share is its time per value received
            # against the producer's time per send; compare the consumers.
            pv = {i: self.per_value(g, i, p) for i in (CONFLATE, "triple_buffer", "atomic_swap_floor")}
            bound = ""
            if all(v is not None for v in pv.values()):
                bound = (
                    "time per value received (per send / share): "
                    f"conflate {fmt_ns(pv[CONFLATE])}, triple_buffer {fmt_ns(pv['triple_buffer'])}, "
                    f"bare atomic {fmt_ns(pv['atomic_swap_floor'])}"
                )
                keep = self.keeps_up()
                kc, kt = keep.get((CONFLATE, p)), keep.get(("triple_buffer", p))
                if kc is not None and kt is not None:
                    fastest = min(keep.values())
                    bound += (
                        f"; `line_model` (paced producer): conflate's consumer keeps "
                        f"{100 * self.model['keep_up']:.1f} % from {self.keeps_up_text(CONFLATE, p)} per send, "
                        f"triple_buffer's from {self.keeps_up_text('triple_buffer', p)}, "
                        f"no design's from less than {fmt_ns(fastest)}; conflate sends every "
                        f"{fmt_ns(self.ns(g, CONFLATE, p))}"
                    )
            slow = self.slow_bound(g, [CONFLATE, "triple_buffer"], p)
            self.target(
                g,
                f"{p}: ≤ 1.0x triple_buffer with at least its share",
                f"{fmt_ratio(r)}, {share_txt}",
                ok,
                joined(slow, bound),
            )
            floor = self.ns(g, "atomic_swap_floor", p)
            fastest = min((v for v in pv.values() if v is not None), default=None)
            for impl in BLOCKING_ALTERNATIVES:
                r = ratio(self.ns(g, CONFLATE, p), self.ns(g, impl, p))
                bound = ""
                base = self.ns(g, impl, p)
                if base is not None and floor is not None:
                    need = 0.5 * base
                    if need < floor:
                        bound = (
                            f"needs ≤ {fmt_ns(need)} per send, below the bare atomic swap's "
                            f"{fmt_ns(floor)} in this group"
                        )
                    elif fastest is not None and st is not None and need < st * fastest:
                        bound = (
                            f"needs ≤ {fmt_ns(need)} per send; with triple_buffer's share "
                            f"({100 * st:.1f} %) that is a value received every "
                            f"{fmt_ns(need / st)}, faster than any consumer in this run "
                            f"(fastest {fmt_ns(fastest)})"
                        )
                slow = self.slow_bound(g, [CONFLATE, impl, "atomic_swap_floor"], p)
                self.target(
                    g,
                    f"{p}: ≥ 2x faster than `{impl}`",
                    fmt_ratio(r),
                    None if r is None else r <= 0.5,
                    joined(slow, bound),
                )
            self.chart_row(f"send_contended {p}", g, p)
        return out

    def round_trip(self):
        g = "round_trip"
        params = [f"{p}_{w}" for p in PAYLOADS for w in ("floating", "pinned")]
        out = "## `round_trip`: blocking ping-pong on two channels of the same kind\n\n"
        out += (
            "A sends, B (blocked in `recv`) wakes and sends back; median time per round "
            "trip. *floating*: threads unpinned; *pinned*: A on CPU 0, B on CPU 1.\n\n"
        )
        out += self.simple_group(g, params, fmt=fmt_us)
        out += self.slow_note(g, params)
        skipped = [i for (gg, i) in self.skips if gg == g]
        if skipped:
            out += "\nSkipped (cannot block in `recv`): " + ", ".join(f"`{i}`" for i in skipped) + ".\n"
        out += "\n"
        for p in params:
            r = ratio(self.ns(g, CONFLATE, p), self.ns(g, "crossbeam_bounded1_drain", p))
            self.target(
                g,
                f"{p}: ≤ 1.0x crossbeam",
                fmt_ratio(r),
                None if r is None else r <= 1.0,
                self.slow_bound(g, [CONFLATE, "crossbeam_bounded1_drain"], p),
            )
        for p in ("u64_floating", "u64_pinned"):
            self.chart_row(f"round_trip {p}", g, p)
        return out

    # -- send_tail ------------------------------------------------------------

    def keeps_up(self):
        """(design id, payload) -> shortest time per send at which the
        consumer kept `keep_up` of the values in `line_model`'s sweep."""
        return {
            (sw["id"], sw["payload"]): sw["keeps_up_from_ns"]
            for sw in self.model.get("sweeps", [])
            if sw["keeps_up_from_ns"] is not None
        }

    def keeps_up_text(self, impl, p):
        """The keep-up time as text; a consumer that kept up with an unpaced
        producer may be able to do better, which the sweep cannot show."""
        for sw in self.model.get("sweeps", []):
            if (sw["id"], sw["payload"]) == (impl, p):
                k = sw["keeps_up_from_ns"]
                if k is None:
                    return "not in the sweep"
                return f"≤ {fmt_ns(k)} (its unpaced send)" if sw["points"][-1]["pace"] == 0 else fmt_ns(k)
        return "—"

    def line_model(self):
        if not self.model:
            return "## `line_model`\n\nNo results (run `cargo bench --bench line_model`).\n\n"
        out = "## `line_model`: how fast can a polling consumer take values here?\n\n"
        keep = self.model["keep_up"]
        out += (
            "`research/line_model.rs` (a research instrument in its own process, which a plain "
            "`cargo bench` does not run: `cargo bench --bench line_model`), producer on "
            "CPU 0, consumer spinning on `try_recv` on CPU 1. A cache line bounced between the "
            "two CPUs takes "
            f"**{fmt_ns(self.model['line_round_trip_ns'])} per round trip** in this run "
            f"(repetitions: {', '.join(fmt_ns(t) for t in self.model['line_round_trip_all_ns'])}; "
            f"{self.model.get('quiet_wait_s', 0):.0f} s waited for the quiet state in all, "
            f"{self.model.get('redone', 0)} measurements redone because the machine turned slow, "
            f"{self.model.get('slow_kept', 0)} kept although it was slow: "
            f"slow means {limit_text(self.model)}). "
            "Then the producer is *paced*: after each send it does 0, 1, 2, ... rounds of busy "
            "work, so sends come further apart, until the consumer gets "
            f"{100 * keep:.1f} % of the values (`triple_buffer`'s share in `send_contended`). "
            "The shortest interval at which a consumer keeps up is what the consumer can do, "
            "whatever its producer's speed. *model_...* are conflate's flag-arena protocol "
            "reduced to its cache traffic (8-byte values): *separate* puts each node on its "
            "own line as conflate does, *inline* puts all six nodes in the slot word's line; "
            "*load_swap* consumers read the word and swap only when it shows a value (as "
            "`try_recv` does), *swap_only* consumers swap on every poll. "
            f"{self.model['sends']:,} sends per point, medians of {self.model['reps']} "
            "repetitions.\n\n"
        )
        rows = []
        kt = self.keeps_up()
        censored = {
            sw["payload"]: sw["points"][-1]["pace"] == 0
            for sw in self.model["sweeps"]
            if sw["id"] == "triple_buffer"
        }
        for sw in self.model["sweeps"]:
            first = sw["points"][0]
            k = sw["keeps_up_from_ns"]
            base = kt.get(("triple_buffer", sw["payload"]))
            if sw["id"] == "triple_buffer":
                vs = "1 (itself)"
            elif k is None or base is None:
                vs = "—"
            else:
                # triple_buffer's time is an upper bound when it kept up unpaced.
                vs = ("≥ " if censored.get(sw["payload"]) else "") + fmt_ratio(k / base)
            rows.append(
                [
                    f"`{sw['id']}`",
                    sw["payload"],
                    fmt_ns(first["ns_per_send"]),
                    f"{100 * first['share']:.1f} %",
                    self.keeps_up_text(sw["id"], sw["payload"]),
                    vs,
                ]
            )
        out += table(
            [
                "design",
                "T",
                "unpaced: per send",
                "unpaced: share",
                f"keeps {100 * keep:.1f} % from (per send)",
                "/ triple_buffer's",
            ],
            rows,
        )
        return out + "\n"

    def tail_rows(self):
        rows = {}
        for t in self.tail.get("tail", []):
            rows[(t["setup"], t["id"], t["payload"])] = t
        return rows

    def send_tail(self):
        rows = self.tail_rows()
        if not rows:
            return "## `send_tail`\n\nNo results (run `cargo bench --bench send_tail`).\n\n"
        sends = self.tail["sends"]
        reps = self.tail["reps"]
        per_million = 1e6 / sends
        med = statistics.median
        out = "## `send_tail`: the latency of each single send\n\n"
        out += (
            f"Each of {sends:,} sends is timed on its own with the time-stamp counter "
            f"({self.tail['ticks_per_ns']:.3f} ticks/ns, calibrated against `Instant`) while a "
            "consumer receives in a loop (blocking `recv` where the design can block, "
            "a spin on `try_recv` otherwise). Medians over "
            f"{reps} interleaved repetitions; *> 10 µs* is per million sends, with the "
            "range over repetitions. `timer_only` times an empty section: the timer's "
            "own cost and the machine's noise floor in that set-up.\n\n"
        )

        def get(setup, impl, p, field):
            r = rows.get((setup, impl, p))
            return None if r is None else med(r[field])

        for setup in SETUPS:
            out += f"### `{setup}`: {SETUP_TEXT[setup]}\n\n"
            tr = rows.get((setup, "timer_only", "-"))
            if tr:
                out += (
                    f"Timer alone: p50 {fmt_ns(med(tr['p50']))}, p99.9 {fmt_ns(med(tr['p999']))}, "
                    f"max {fmt_ns(med(tr['max']))}, "
                    f"{med(tr['over_10us']) * per_million:.0f} sections over 10 µs per million.\n\n"
                )
            header = [
                "implementation",
                "T",
                "p50",
                "p99",
                "p99.9",
                "max",
                "> 10 µs per M (range)",
                "conflate / impl (> 10 µs)",
                "conflate / impl (p99.9)",
            ]
            trows = []
            for p in PAYLOADS:
                for impl in IMPLS:
                    r = rows.get((setup, impl, p))
                    if r is None:
                        continue
                    over = [o * per_million for o in r["over_10us"]]
                    slow_reps = sum(
                        1
                        for pair in r.get("line_round_trip_ns", [])
                        if any(x is not None and x > self.tail_limit for x in pair)
                    )
                    if slow_reps:
                        self.tail_slow.add((setup, impl, p))
                    trows.append(
                        [
                            f"`{impl}`" + (f" †{slow_reps}" if slow_reps else ""),
                            p,
                            fmt_ns(med(r["p50"])),
                            fmt_ns(med(r["p99"])),
                            fmt_ns(med(r["p999"])),
                            fmt_ns(med(r["max"])),
                            f"{med(over):.0f} ({min(over):.0f}–{max(over):.0f})",
                            "1 (itself)"
                            if impl == CONFLATE
                            else fmt_ratio(ratio(get(setup, CONFLATE, p, "over_10us"), med(r["over_10us"]))),
                            "1 (itself)"
                            if impl == CONFLATE
                            else fmt_ratio(ratio(get(setup, CONFLATE, p, "p999"), med(r["p999"]))),
                        ]
                    )
            out += table(header, trows) + "\n"
            if any(k[0] == setup for k in self.tail_slow):
                out += (
                    f"†*n*: in *n* of the {reps} repetitions of that row a cache line's round "
                    "trip between the CPUs, just before or just after it, took "
                    f"{limit_text(self.tail)}: the machine was in a slow state (values in "
                    "`target/bench-results/send_tail.json`).\n\n"
                )

            for p in PAYLOADS:
                c_over = get(setup, CONFLATE, p, "over_10us")
                c_p999 = get(setup, CONFLATE, p, "p999")
                if c_over is None:
                    continue
                floor = get(setup, "atomic_swap_floor", p, "over_10us")

                def tail_slow(*impls):
                    return self.slow_text([i for i in impls if (setup, i, p) in self.tail_slow])

                if floor is not None:
                    self.target(
                        f"send_tail {setup}",
                        f"{p}: > 10 µs ≤ 1.5x atomic floor's",
                        f"{c_over * per_million:.0f} vs {floor * per_million:.0f} per M",
                        c_over <= 1.5 * floor,
                        tail_slow(CONFLATE, "atomic_swap_floor"),
                    )
                for impl in ("std_mutex_condvar", "parking_lot_mutex_condvar", "tokio_watch"):
                    o = get(setup, impl, p, "over_10us")
                    if o is not None:
                        bound = ""
                        if floor is not None and 0.1 * o < floor:
                            bound = (
                                f"0.1x is {0.1 * o * per_million:.1f} per M, below the bare "
                                f"atomic swap's own {floor * per_million:.0f} per M in this set-up"
                            )
                        slow = tail_slow(CONFLATE, impl, "atomic_swap_floor")
                        self.target(
                            f"send_tail {setup}",
                            f"{p}: > 10 µs ≤ 0.1x `{impl}`",
                            f"{c_over * per_million:.0f} vs {o * per_million:.0f} per M",
                            c_over <= 0.1 * o,
                            joined(slow, bound),
                        )
                cb = get(setup, "crossbeam_bounded1_drain", p, "p999")
                if cb is not None:
                    self.target(
                        f"send_tail {setup}",
                        f"{p}: p99.9 ≤ crossbeam's",
                        f"{fmt_ns(c_p999)} vs {fmt_ns(cb)}",
                        c_p999 <= cb,
                        tail_slow(CONFLATE, "crossbeam_bounded1_drain"),
                    )
            bars = []
            for impl in IMPLS[1:]:
                bars.append((impl, ratio(get(setup, CONFLATE, "u64", "p999"), get(setup, impl, "u64", "p999"))))
            self.chart.append((f"send_tail p99.9 u64 {setup}", bars))
            if setup == "noisy_consumer_cpu":
                bars = [
                    (impl, ratio(get(setup, CONFLATE, "u64", "over_10us"), get(setup, impl, "u64", "over_10us")))
                    for impl in IMPLS[1:]
                ]
                self.chart.append((f"send_tail sends > 10 µs u64 {setup}", bars))
        return out

    def alloc(self):
        rows = self.tail.get("alloc", [])
        if not rows:
            return ""
        out = "## `alloc_per_op`: heap allocations per operation\n\n"
        out += (
            "Counted by a `#[global_allocator]` wrapper around `System` in the `send_tail` "
            "binary, after 100 warm-up operations, over 10,000 operations: *send idle* (nobody "
            "receives), *send* and *try_recv* when every send is received on the same thread "
            "(counted apart), and *round trip*: every allocation by both threads of a blocking "
            "ping-pong, per round trip (two sends, two `recv`s).\n\n"
        )
        trows = []
        for r in rows:
            rt = r["round_trip"]
            trows.append(
                [
                    f"`{r['id']}`",
                    r["payload"],
                    f"{r['send_idle']:.3f}",
                    f"{r['send_received']:.3f}",
                    f"{r['try_recv']:.3f}",
                    "skipped (cannot block)" if rt is None else f"{rt:.3f}",
                ]
            )
            if r["id"] == CONFLATE:
                vals = [r["send_idle"], r["send_received"], r["try_recv"], rt or 0.0]
                self.target(
                    "alloc_per_op",
                    f"{r['payload']}: zero for conflate",
                    ", ".join(f"{v:.3f}" for v in vals),
                    all(v == 0 for v in vals),
                )
        out += table(["implementation", "T", "send idle", "send", "try_recv", "round trip"], trows)
        return out + "\n"

    def summary(self):
        """A compact conflate/baseline table (u64) for the README."""
        cols = [
            "std_mutex_condvar",
            "parking_lot_mutex_condvar",
            "crossbeam_bounded1_drain",
            "async_channel_force_send",
            "tokio_watch",
            "triple_buffer",
            "atomic_swap_floor",
        ]
        short = ["std Mutex", "parking_lot", "crossbeam", "async-channel", "tokio watch", "triple_buffer", "atomic floor"]
        rows = []
        for label, group, param in (
            ("send, nobody receiving", "send_idle", "u64"),
            ("send, consumer polling", "send_contended", "u64"),
            ("blocking round trip, floating", "round_trip", "u64_floating"),
            ("blocking round trip, pinned", "round_trip", "u64_pinned"),
        ):
            c = self.ns(group, CONFLATE, param)
            rows.append([label] + [fmt_ratio(ratio(c, self.ns(group, b, param))) for b in cols])
        tail = self.tail_rows()
        if tail:
            med = statistics.median
            for setup, label in (("apart", "sends > 10 µs, CPUs apart"), ("noisy_consumer_cpu", "sends > 10 µs, consumer CPU shared")):
                c = tail.get((setup, CONFLATE, "u64"))
                r = [label]
                for b in cols:
                    t = tail.get((setup, b, "u64"))
                    r.append(fmt_ratio(ratio(med(c["over_10us"]), med(t["over_10us"])) if c and t else None))
                rows.append(r)
        out = "## Summary (u64, conflate / baseline; below 1 = conflate better)\n\n"
        return out + table(["scenario"] + short, rows) + "\n"

    def targets_table(self):
        out = "## Targets (issue #4)\n\n"
        out += "Ratios are conflate / baseline from this one run; below 1 means conflate is faster.\n\n"
        out += (
            "*Same run says*: for a miss, a floor from this same run that the target "
            "would have to beat (computed by the script, not written by hand).\n\n"
        )
        rows = []
        for scen, what, measured, ok, bound in self.targets:
            mark = "n/a" if ok is None else ("met" if ok else "**missed**")
            rows.append([scen, what, measured, mark, bound])
        met = sum(1 for t in self.targets if t[3])
        missed = sum(1 for t in self.targets if t[3] is False)
        below = sum(1 for t in self.targets if t[3] is False and "below the bare atomic" in t[4])
        slow = sum(1 for t in self.targets if t[3] is False and "slow state" in t[4])
        out += f"{met} met, {missed} missed"
        out += f" ({below} of the misses ask for less than the bare atomic swap does in the same run"
        out += f"; {slow} {'was' if slow == 1 else 'were'} measured with the machine in its slow state, marked †).\n\n"
        out += table(["scenario", "target", "measured", "result", "same run says"], rows, numeric=False)
        return out + "\n"


# ---------------------------------------------------------------------------
# SVG
# ---------------------------------------------------------------------------

COLORS = {True: "#2e7d32", False: "#c62828"}


def svg_chart(chart, title: str) -> str:
    """Diverging horizontal bars on a log axis, centred on ratio 1."""
    lo, hi = -2.0, 2.0  # log10 of 0.01x .. 100x
    left, label_w, plot_w, bar_h, gap = 10, 230, 520, 13, 3
    x0 = left + label_w
    head = 70
    y = head
    body = []

    def xpos(r: float) -> float:
        v = min(max(math.log10(r), lo), hi)
        return x0 + (v - lo) / (hi - lo) * plot_w

    for label, bars in chart:
        body.append(
            f'<text x="{left}" y="{y + 11}" font-weight="bold" font-size="12">{esc(label)}</text>'
        )
        y += 17
        for impl, r in bars:
            body.append(
                f'<text x="{x0 - 6}" y="{y + bar_h - 3}" font-size="11" text-anchor="end">{esc(impl)}</text>'
            )
            if r is None:
                body.append(
                    f'<text x="{xpos(1.0) + 4}" y="{y + bar_h - 3}" font-size="10" fill="#777">skipped / n.a.</text>'
                )
            else:
                a, b = sorted((xpos(1.0), xpos(r)))
                color = COLORS[r <= 1.0]
                body.append(
                    f'<rect x="{a:.1f}" y="{y}" width="{max(b - a, 1):.1f}" height="{bar_h}" fill="{color}"/>'
                )
                # Values sit in a column right of the plot, so bars clipped at
                # either end of the axis keep a readable label.
                body.append(
                    f'<text x="{x0 + plot_w + 8}" y="{y + bar_h - 3}" font-size="10">{fmt_ratio(r)}</text>'
                )
            y += bar_h + gap
        y += 8
    height = y + 30
    width = x0 + plot_w + 70
    grid = []
    for k in range(int(lo), int(hi) + 1):
        x = x0 + (k - lo) / (hi - lo) * plot_w
        stroke = "#000" if k == 0 else "#ccc"
        grid.append(f'<line x1="{x:.1f}" y1="{head - 8}" x2="{x:.1f}" y2="{y}" stroke="{stroke}"/>')
        grid.append(
            f'<text x="{x:.1f}" y="{head - 12}" font-size="11" text-anchor="middle">{10.0 ** k:g}x</text>'
        )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        f'<text x="{left}" y="20" font-size="15" font-weight="bold">{esc(title)}</text>',
        f'<text x="{left}" y="38" font-size="11">conflate / baseline (log scale). '
        "Green, left of 1x: conflate is faster; red, right: conflate is slower.</text>",
        *grid,
        *body,
        f'<text x="{left}" y="{height - 10}" font-size="10" fill="#555">'
        "Generated by scripts/bench_report.py from target/criterion and target/bench-results.</text>",
        "</svg>",
    ]
    return "\n".join(parts) + "\n"


def esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ---------------------------------------------------------------------------


def results_time(target: Path) -> str:
    """When the newest result file was written (UTC)."""
    files = list(target.glob("bench-results/*.json")) + list(target.glob("criterion/*/*/*/new/estimates.json"))
    if not files:
        return "unknown"
    newest = max(f.stat().st_mtime for f in files)
    return dt.datetime.fromtimestamp(newest, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", type=Path, default=ROOT / "target")
    ap.add_argument("--docs", type=Path, default=ROOT / "docs")
    ap.add_argument(
        "--notes",
        type=Path,
        default=ROOT / "research" / "bench-notes.md",
        help="hand-written analysis appended to the report (default research/bench-notes.md)",
    )
    ap.add_argument(
        "--code",
        default=None,
        help="which code was measured (default: HEAD when the report is generated)",
    )
    args = ap.parse_args()
    code = args.code or f"commit {sh(['git', '-C', str(ROOT), 'rev-parse', '--short', 'HEAD'])} (HEAD when the report was generated)"

    crit = load_criterion(args.target)
    channels = load_json(args.target / "bench-results" / "channels.json")
    tail = load_json(args.target / "bench-results" / "send_tail.json")
    model = load_json(args.target / "bench-results" / "line_model.json")
    if not crit and not tail:
        raise SystemExit("no results under target/: run `cargo bench` first")

    rep = Report(crit, channels, tail, model)
    m = machine()
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sections = [
        rep.send_idle(),
        rep.send_contended(),
        rep.line_model(),
        rep.round_trip(),
        rep.send_tail(),
        rep.alloc(),
    ]
    targets = rep.targets_table()
    summary = rep.summary()

    loads = []
    for name, data in (("channels", channels), ("send_tail", tail), ("line_model", model)):
        if data and data.get("loadavg_start") is not None:
            line = f"`{name}`: load average {data['loadavg_start'][0]} at start, {data['loadavg_end'][0]} at end"
            trip = data.get("line_round_trip_ns")
            if data.get("quiet_wait_s"):
                line += f"; waited {data['quiet_wait_s']:.0f} s in all for the quiet state before benchmarks"
            if isinstance(trip, list) and None not in trip:
                line += f"; a cache line's round trip between the CPUs {fmt_ns(trip[0])} at start, {fmt_ns(trip[1])} at end"
            elif isinstance(trip, (int, float)):
                line += f"; a cache line's round trip between the CPUs {fmt_ns(trip)}"
            if data.get("line_round_trip_best_ns") is not None:
                line += f", {fmt_ns(data['line_round_trip_best_ns'])} at best"
            loads.append(line)

    md = ["# conflate benchmarks\n"]
    md.append(
        "conflate against the alternatives a user would pick instead, all in one process, "
        "one run. Ratios are **conflate / baseline**: below 1 means conflate is faster "
        "(or, for counts, has fewer). Generated by `scripts/bench_report.py`; do not edit "
        "by hand.\n"
    )
    md.append(
        "## Machine and run\n\n"
        f"- Date: {now} (report); results written {results_time(args.target)}\n"
        f"- CPU: {m['model']}, {m['cpus']} CPUs (hypervisor: {m['hypervisor']}), {m['mem']} RAM\n"
        f"- Kernel {m['kernel']}; {m['rustc']}\n"
        f"- Code measured: {code}\n"
        + "".join(f"- {line}\n" for line in loads)
        + "- The cache-line round trip tells the machine's state: each bench process measures it "
        "around every benchmark that uses both CPUs, and a row is marked † when a trip just before "
        f"or after it took more than {SLOW_FACTOR:g}x the best trip of the same process: a slow "
        "state (other work on the same CPUs, or a state of the host that a guest cannot see), in "
        "which every number that involves both CPUs is several times slower.\n"
        + "- Other engineers may have been compiling and testing on the same CPUs while these "
        "ran (the load averages above include the benchmark's own busy threads, about 2), so "
        "pinned threads can be preempted by unrelated work: treat single-digit percentage "
        "differences, and maxima, as noise.\n\n"
        "Commands:\n\n"
        "```sh\n"
        "cargo bench                      # every bench below but line_model\n"
        "CONFLATE_BENCH_QUIET_WAIT=1 cargo bench  # the same, waiting (up to 60 s per process) for the quiet state\n"
        "cargo bench --bench channels     # criterion: send_idle, send_contended(_2p), round_trip\n"
        "cargo bench --bench send_tail    # custom harness: send_tail, alloc_per_op\n"
        "cargo bench --bench line_model   # research/line_model.rs: cache-line round trip, slot models\n"
        "python3 scripts/bench_report.py  # writes docs/benchmarks.md and docs/benchmarks.svg\n"
        "```\n\n"
        "![conflate / baseline ratios](benchmarks.svg)\n"
    )
    md.append(summary)
    md.append(targets)
    md.append(
        "## Implementations\n\n"
        "All share one trait in `benches/common/mod.rs`; conflate is used through its public API only.\n\n"
        "| id | what |\n| --- | --- |\n"
        "| `conflate` | `conflate::channel()`: `send`, `try_recv`, `recv` |\n"
        "| `std_mutex_condvar` | `std::sync::Mutex<Option<T>>` + `Condvar`, `notify_one` after each send |\n"
        "| `parking_lot_mutex_condvar` | the same with `parking_lot::Mutex` and `parking_lot::Condvar` |\n"
        "| `crossbeam_bounded1_drain` | `crossbeam_channel::bounded(1)`; when full, the producer drains with a receiver clone and retries |\n"
        "| `std_sync_channel1_drain` | `std::sync::mpsc::sync_channel(1)`; std's receiver cannot be cloned, so it sits in a `Mutex` shared with the producer, which `try_lock`s it to drain when full (the consumer locks it around `try_recv`/`recv`) |\n"
        "| `async_channel_force_send` | `async_channel::bounded(1)` with `force_send`; blocking receive via `recv_blocking` |\n"
        "| `tokio_watch` | `tokio::sync::watch` (feature `sync` only): `send_replace`; `try_recv` = `has_changed` + `borrow_and_update`; blocking `recv` polls `changed()` on a minimal thread-parking executor with a cached waker |\n"
        "| `triple_buffer` | `triple_buffer` 8: wait-free, single producer, no blocking receive (spins) |\n"
        "| `arc_swap` | `arc_swap::ArcSwapOption`: `store(Some(Arc::new(v)))`, receive = `swap(None)`; no blocking receive (spins) |\n"
        "| `atomic_swap_floor` | floor: one `AtomicU64::swap` of the sequence number (8 bytes even for `64B`); no blocking |\n"
        "| `park_unpark_floor` | floor: the atomic swap plus raw `thread::park`/`unpark` of the registered receiver |\n\n"
        "Designs that cannot block are skipped in `round_trip` (they would only spin), "
        "and `triple_buffer` (one producer) in `send_contended_2p`; the report marks every skip.\n\n"
    )
    md.extend(sections)
    if args.notes and args.notes.exists():
        md.append(args.notes.read_text())

    args.docs.mkdir(parents=True, exist_ok=True)
    (args.docs / "benchmarks.md").write_text("\n".join(md))
    (args.docs / "benchmarks.svg").write_text(
        svg_chart(rep.chart, f"conflate vs alternatives — {m['model']}, {m['cpus']} CPUs, {now[:10]}")
    )
    print(f"wrote {args.docs / 'benchmarks.md'} and {args.docs / 'benchmarks.svg'}")
    for scen, what, measured, ok, bound in rep.targets:
        mark = "n/a" if ok is None else ("met" if ok else "MISSED")
        print(f"{mark:>6}  {scen}: {what}: {measured}" + (f" ({bound})" if bound else ""))


if __name__ == "__main__":
    main()
