"""The chain of a seeded global generator (``incr.seeds``): which steps a drawer counts, and
which run again before it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from incr.randomdraws import generators, unseeded
from incr.seeds import chain_before, ran_here, state_after, to_run_again

PART = "np.random:seed"


def test_a_drawer_counts_every_step_of_the_chain_before_it() -> None:
    draws = {PART: [("p.seed", "s"), ("p.make", "m"), ("p.noise", "n")]}
    assert chain_before(draws, "p.noise") == {PART: ["p.seed", "p.make"]}
    assert chain_before(draws, "p.seed") == {}  # the seeder draws from no chain
    assert chain_before(draws, "p.other") == {}


def test_the_chain_runs_again_unless_this_process_holds_its_state() -> None:
    draws = {PART: [("p.seed", "s"), ("p.make", "m"), ("p.noise", "n")]}
    assert to_run_again(draws, "p.noise", {}) == ["p.seed", "p.make"]
    live: dict[str, list[str]] = {}
    ran_here(live, "p.seed", {"p.seed": [PART]}, {})
    assert to_run_again(draws, "p.noise", live) == ["p.seed", "p.make"]  # make was reused
    ran_here(live, "p.make", {}, {"p.make": [PART]})
    assert to_run_again(draws, "p.noise", live) == []
    ran_here(live, "p.train", {"p.train": [PART]}, {})  # it seeds again in between
    assert to_run_again(draws, "p.noise", live) == ["p.seed", "p.make"]


@given(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=6, unique=True))
def test_a_state_moves_with_each_step_drawing(fingerprints: list[str]) -> None:
    states = [""]
    for fp in fingerprints:
        states.append(state_after(states[-1], fp))
    assert len(set(states)) == len(states)  # no two points of the chain alike
    again = [""]
    for fp in fingerprints:
        again.append(state_after(again[-1], fp))
    assert again == states


def test_a_step_that_seeds_and_draws_seeds_for_the_steps_after_it() -> None:
    seeds = ["np.random.seed() in p.py:set_seed"]
    notes = unseeded(["np.random.rand() in p.py:train"], seeds)
    assert generators(tuple(notes)) == (("np.random",), ())
    only = unseeded([], seeds)  # seeds, draws nothing
    assert only == seeds and generators(tuple(only)) == (("np.random",), ())
