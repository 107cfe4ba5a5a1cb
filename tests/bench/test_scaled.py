"""``make bench BENCH_ARGS="--messages N"`` grows the full world in proportion and keeps its
shapes (docs/scaling.md). Planning only: no database."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from bench import seed


def test_the_default_size_is_the_full_world() -> None:
    assert seed.scaled(seed.FULL.messages) == replace(seed.FULL, name="full x1")


def test_a_bigger_world_grows_users_and_threads_in_proportion_and_keeps_the_named_threads() -> None:
    scale = seed.scaled(1_000_000)
    assert (scale.users, scale.threads, scale.messages) == (4_000, 40_000, 1_000_000)
    assert (scale.small_threads, scale.small_messages) == (4_000, 100_000)
    assert (scale.detail_threads, scale.long_thread_messages) == (200, 10_000)

    world = seed.plan_world(scale)
    assert len(world.plans) == 40_000
    assert sum(plan.messages for plan in world.plans) == 1_000_000
    assert sum(plan.messages for plan in world.phase_one) == 100_000
    assert [plan.messages for plan in world.threads_of("long")] == [10_000]
    assert {plan.messages for plan in world.threads_of("detail")} == {seed.DETAIL_MESSAGES}
    assert len(world.threads_of("detail")) == 200
    # The skew is kept: the busiest recruiter holds thousands of threads, the median a few.
    per_employer = sorted(Counter(plan.employer.id for plan in world.plans).values())
    assert per_employer[-1] > 2_000
    assert per_employer[len(per_employer) // 2] < 30


def test_too_few_messages_for_the_named_threads_are_refused() -> None:
    with pytest.raises(ValueError, match="too few"):
        seed.scaled(20_000)
