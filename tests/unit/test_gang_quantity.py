"""core.quantity: Kubernetes resource quantities as exact numbers, and back to short strings."""

from __future__ import annotations

from decimal import Decimal

import pytest

from podgroup_operator.core.quantity import format_cpu, format_memory, parse_quantity

KI, MI, GI, TI = 2**10, 2**20, 2**30, 2**40


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # CPU as cores, millicores and fractions.
        ("100m", Decimal("0.1")),
        ("1", Decimal(1)),
        ("1.5", Decimal("1.5")),
        ("0.25", Decimal("0.25")),
        ("2500m", Decimal("2.5")),
        ("0", Decimal(0)),
        ("0m", Decimal(0)),
        # Binary suffixes.
        ("1Ki", Decimal(KI)),
        ("500Mi", Decimal(500 * MI)),
        ("2Gi", Decimal(2 * GI)),
        ("1.5Gi", Decimal(3 * GI // 2)),
        ("1Ti", Decimal(TI)),
        ("1Pi", Decimal(2**50)),
        ("1Ei", Decimal(2**60)),
        # Decimal suffixes; "E" alone is exa, not an exponent.
        ("1k", Decimal(1000)),
        ("2M", Decimal(2_000_000)),
        ("3G", Decimal(3 * 10**9)),
        ("1T", Decimal(10**12)),
        ("1P", Decimal(10**15)),
        ("1E", Decimal(10**18)),
        ("5u", Decimal("0.000005")),
        ("7n", Decimal("0.000000007")),
        # Exponents.
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("5e-3", Decimal("0.005")),
        ("2.5e+2", Decimal(250)),
        # Plain integers, signs, surrounding blanks.
        ("12345", Decimal(12345)),
        ("+1", Decimal(1)),
        ("-1", Decimal(-1)),
        (" 2Gi ", Decimal(2 * GI)),
        # Numbers (as YAML may give them).
        (1, Decimal(1)),
        (0, Decimal(0)),
        (1.5, Decimal("1.5")),
        (0.1, Decimal("0.1")),
        (17179869184, Decimal(16 * GI)),
    ],
)
def test_parse_quantity(raw: str | int | float, expected: Decimal) -> None:
    assert parse_quantity(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        " ",
        "m",
        "Mi",
        "abc",
        "1.2.3",
        ".",
        "1e",
        "e3",
        "1 Gi",
        "1gi",  # suffixes are case-sensitive
        "1ki",
        "1K",
        "1KiB",
        "1mi",
        "0x10",
        "1_000",
        "nan",
        "inf",
        "--1",
        "1/2",
    ],
)
def test_parse_quantity_refuses_malformed(raw: str) -> None:
    with pytest.raises(ValueError, match="not a quantity"):
        parse_quantity(raw)


def test_parse_quantity_is_exact() -> None:
    # Decimal, not float: 0.1 + 0.2 CPU is exactly 0.3 CPU, so capacity checks never drift.
    assert parse_quantity("100m") + parse_quantity("200m") == parse_quantity("300m")
    assert parse_quantity("1.1") * 3 == Decimal("3.3")


@pytest.mark.parametrize(
    ("cores", "expected"),
    [
        (Decimal(0), "0"),
        (Decimal(1), "1"),
        (Decimal(6), "6"),
        (Decimal("0.1"), "100m"),
        (Decimal("0.5"), "500m"),
        (Decimal("1.5"), "1500m"),
        (Decimal("2.25"), "2250m"),
        (Decimal("0.001"), "1m"),
        (Decimal("1E+3"), "1000"),
        (parse_quantity("2500m"), "2500m"),
        (parse_quantity("4"), "4"),
    ],
)
def test_format_cpu(cores: Decimal, expected: str) -> None:
    assert format_cpu(cores) == expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (Decimal(0), "0"),
        (Decimal(1), "1"),
        (Decimal(1000), "1000"),
        (Decimal(KI), "1Ki"),
        (Decimal(1536), "1536"),  # 1.5Ki is no whole number of Ki: plain bytes
        (Decimal(3 * KI), "3Ki"),
        (Decimal(64 * MI), "64Mi"),
        (Decimal(MI + KI), "1025Ki"),
        (Decimal(GI), "1Gi"),
        (Decimal(3 * GI), "3Gi"),
        (Decimal(GI + MI), "1025Mi"),
        (Decimal(1024 * GI), "1024Gi"),  # no Ti: Gi is the largest unit used
        (parse_quantity("1.5Gi"), "1536Mi"),
        (parse_quantity("1G"), "1000000000"),
        (parse_quantity("128974848"), "123Mi"),
    ],
)
def test_format_memory(size: Decimal, expected: str) -> None:
    assert format_memory(size) == expected


@pytest.mark.parametrize("text", ["100m", "1", "6", "2500m", "999m", "32"])
def test_format_cpu_round_trips(text: str) -> None:
    assert parse_quantity(format_cpu(parse_quantity(text))) == parse_quantity(text)


@pytest.mark.parametrize("text", ["1Ki", "64Mi", "1536Mi", "2Gi", "1000", "1G", "123Mi"])
def test_format_memory_round_trips(text: str) -> None:
    assert parse_quantity(format_memory(parse_quantity(text))) == parse_quantity(text)
