"""Paired comparison of two ablation studies: per row, B − A per seed, its spread and a paired t-test.

Two studies (``ecm ablate`` outputs) are paired by row key and seed: a seed contributes only where both
studies have a value of the metric. Per row: the mean of the differences B − A, their sample standard
deviation (ddof = 1) and the paired t statistic with its two-sided p-value (n − 1 degrees of freedom).
With fewer than two paired seeds there is no spread, so nothing can be said about seed noise. With 2–3
seeds the test has little power: a large p-value is no evidence of "no effect".
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ecm.config.diff import config_differences, flat_config
from ecm.errors import InputError
from ecm.studies.results import PROTOCOLS, Study


def t_test_p_value(t: float, df: int) -> float:
    """Two-sided p-value of Student's t with ``df`` ≥ 1 degrees of freedom (exact closed form, integer df).

    Uses P(|T| ≤ t) for integer ν (Abramowitz & Stegun 26.7.3–4): with θ = atan(t/√ν), odd ν:
    (2/π)(θ + sin θ cos θ Σ_k c_k cos^{2k} θ), even ν: sin θ Σ_k d_k cos^{2k} θ.
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be ≥ 1, got {df}")
    if math.isinf(t):
        return 0.0
    theta = math.atan(abs(t) / math.sqrt(df))
    cos2 = math.cos(theta) ** 2
    if df % 2:
        term, total = 1.0, 1.0 if df > 1 else 0.0
        for k in range(1, (df - 1) // 2):
            term *= cos2 * (2 * k) / (2 * k + 1)
            total += term
        inside = 2.0 / math.pi * (theta + math.sin(theta) * math.cos(theta) * total)
    else:
        term, total = 1.0, 1.0
        for k in range(1, df // 2):
            term *= cos2 * (2 * k - 1) / (2 * k)
            total += term
        inside = math.sin(theta) * total
    return min(1.0, max(0.0, 1.0 - inside))


@dataclass(frozen=True)
class PairedDifference:
    """One row's metric in two studies, paired by seed (percent).

    Attributes:
        key, title: the row.
        seeds: the seeds with a value in both studies.
        first, second: the values of study A and study B for those seeds.
    """

    key: str
    title: str
    seeds: tuple[int, ...]
    first: tuple[float, ...]
    second: tuple[float, ...]

    @property
    def differences(self) -> tuple[float, ...]:
        """B − A per paired seed."""
        return tuple(b - a for a, b in zip(self.first, self.second, strict=True))

    @property
    def mean(self) -> float | None:
        """Mean of B − A (``None`` without pairs)."""
        return statistics.fmean(self.differences) if self.seeds else None

    @property
    def std(self) -> float | None:
        """Sample standard deviation of B − A (ddof = 1); ``None`` with fewer than 2 pairs."""
        return statistics.stdev(self.differences) if len(self.seeds) >= 2 else None

    @property
    def t(self) -> float | None:
        """Paired t statistic mean / (std / √n); ``None`` with fewer than 2 pairs, ±inf when std is 0."""
        if self.std is None or self.mean is None:
            return None
        if self.std == 0.0:
            return 0.0 if self.mean == 0.0 else math.copysign(math.inf, self.mean)
        return self.mean / (self.std / math.sqrt(len(self.seeds)))

    @property
    def p_value(self) -> float | None:
        """Two-sided p-value of the paired t-test (n − 1 df); ``None`` with fewer than 2 pairs."""
        t = self.t
        return None if t is None else t_test_p_value(t, len(self.seeds) - 1)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON of every field and statistic (``Infinity`` never appears: ±inf t becomes ``null``)."""
        t = self.t
        return {
            "key": self.key,
            "title": self.title,
            "seeds": list(self.seeds),
            "A": list(self.first),
            "B": list(self.second),
            "differences": list(self.differences),
            "mean": self.mean,
            "std": self.std,
            "t": t if t is None or math.isfinite(t) else None,
            "p_value": self.p_value,
        }


def compare_studies(
    first: Study,
    second: Study,
    *,
    metric: str = "mAP@0.5",
    protocol: str = "last",
    pairs: Sequence[tuple[str, str]] = (),
) -> list[PairedDifference]:
    """Pair two studies' rows by key and seed on ``metric`` under ``protocol`` (``last``, ``best``, ``val``).

    Rows come in study A's order; rows missing from either study are left out. ``pairs`` adds
    ``(row of A, row of B)`` pairs of differently named rows (e.g. A's ``pre_only`` against B's ``ecm``),
    listed after the rows paired by name, keyed ``"A-row → B-row"``.

    Raises:
        InputError: unknown protocol, or a metric no row of either study has under that protocol.
    """
    if protocol not in PROTOCOLS:
        raise InputError(None, f"--protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    available = {
        name for study in (first, second) for row in study.rows for name in row.metrics.get(protocol, {})
    }
    if metric not in available:
        names = ", ".join(sorted(available)[:12]) or "none"
        raise InputError(
            None, f"metric {metric!r} is not in the studies under protocol {protocol!r} ({names})"
        )
    rows_a = {row.key: row for row in first.rows}
    by_key = {row.key: row for row in second.rows}
    matched = [(row.key, row, by_key[row.key]) for row in first.rows if row.key in by_key]
    for key_a, key_b in pairs:
        for key, rows, which in ((key_a, rows_a, "A"), (key_b, by_key, "B")):
            if key not in rows:
                raise InputError(None, f"--pair {key_a}:{key_b}: study {which} has no row {key!r}")
        matched.append((f"{key_a} → {key_b}", rows_a[key_a], by_key[key_b]))
    out = []
    for key, row_a, row_b in matched:
        values_a = row_a.seed_values(protocol, metric)
        values_b = row_b.seed_values(protocol, metric)
        seeds = tuple(s for s in values_a if s in values_b)
        out.append(
            PairedDifference(
                key,
                row_a.title if key == row_a.key else f"{row_a.title} → {row_b.title}",
                seeds,
                tuple(values_a[s] for s in seeds),
                tuple(values_b[s] for s in seeds),
            )
        )
    return out


def study_config_differences(first: Study, second: Study) -> list[tuple[str, Any, Any]]:
    """``(section.key, value in A, value in B)`` for every config entry in which the two studies differ.

    A study written before an option existed does not record it. As ``ecm train --resume`` reads an older
    checkpoint, a missing entry is read as today's default, so an option added since is no difference.
    When either stored config is one this version cannot read (e.g. from a newer version), both are
    compared as stored.
    """
    a, b = first.resolved_config, second.resolved_config
    if flat_config(a).keys() == flat_config(b).keys():
        return config_differences(a, b)
    # Studies of different versions: the defaults live with the config's sections, which import torch.
    from ecm.config import config_from_dict

    try:
        return config_differences(config_from_dict(a), config_from_dict(b))
    except InputError:
        return config_differences(a, b)


def parse_pair(text: str) -> tuple[str, str]:
    """``"pre_only:ecm"`` → ``("pre_only", "ecm")`` (``--pair`` of ``ecm compare``)."""
    key_a, sep, key_b = text.partition(":")
    if not sep or not key_a.strip() or not key_b.strip():
        raise InputError(None, f"--pair expects ROW_A:ROW_B, got {text!r}")
    return key_a.strip(), key_b.strip()
