"""The usage log as text: the table and the sparkline."""

from __future__ import annotations

from conda_limits.usage.chart import BARS, exit_text, memory_trend, sparkline, table
from conda_limits.usage.entry import MemUse, Run

MiB = 1 << 20


def test_sparkline_scales_from_zero_to_the_highest():
    assert sparkline([0, 50, 100]) == BARS[0] + BARS[4] + BARS[-1]
    assert sparkline([1, None, 1]) == BARS[-1] + " " + BARS[-1]
    assert sparkline([]) == ""
    assert sparkline([0, 0]) == BARS[0] * 2
    assert sparkline([1, 2, 3], ascii_only=True).isascii()


def test_a_long_history_shares_columns_keeping_each_columns_highest():
    values = [1.0] * 100
    values[37] = 10.0
    line = sparkline(values, width=10)
    assert len(line) == 10
    assert line == BARS[0] * 3 + BARS[-1] + BARS[0] * 6


def test_table_rows_say_what_each_run_used():
    runs = [Run(at=1764583200.0, via="run-limited", command="python", wall=75.0, status=0,
                used={"cpu": 3.25, "rss": 300 * MiB, "vmem": 1024 * MiB, "nofile": 12}),
            Run(at=1764583300.0, via="kernel", command="ipykernel", wall=4000.0, status=137,
                signal="SIGKILL", stopped_by="mem", used={}, mem=MemUse(512 * MiB, 512 * MiB, 1))]
    header, first, second = table(runs)
    assert header.split()[:4] == ["#", "Started", "Via", "Command"]
    assert "1m15s" in first and "3.25 s" in first and "300 MiB" in first
    assert "1 GiB" in first and " 12 " in first
    assert "137 (SIGKILL)" in second and "1h06m" in second and "512 MiB" in second
    assert second.rstrip().endswith("mem")
    assert header.index("Via") == first.index("run-limited") == second.index("kernel")


def test_exit_text():
    assert exit_text(Run(at=0.0, via="kernel", command="ipykernel", wall=1.0)) == "?"
    assert exit_text(Run(at=0.0, via="kernel", command="ipykernel", wall=1.0, status=0)) == "0"


def test_memory_trend_names_the_range():
    runs = [Run(at=float(i), via="run-limited", command="p", wall=1.0,
                used={"rss": (i + 1) * 100 * MiB}) for i in range(3)]
    text = memory_trend(runs)
    assert "3 runs, 100 MiB to 300 MiB" in text
    assert text.splitlines()[1].strip() == sparkline([100, 200, 300])
    assert "not measured" in memory_trend([Run(at=0.0, via="kernel", command="k", wall=1.0)])


def test_names_from_a_log_are_printed_escaped():
    run = Run(at=0.0, via="run-limited", command="evil\x1b]0;pwned\x07", wall=1.0, status=1,
              signal="SIG\x1b[2J", stopped_by="\u202edata")
    row = table([run])[1]
    assert "\x1b" not in row and "\x07" not in row and "\u202e" not in row
    assert "evil\\x1b]0;pwned\\x07" in row
