"""The Upstox and Angel One simulators' tokens live in their world, shared by every simulator process on it.

Two ``UpstoxAuth`` (or ``AngelAuth``) on one state file stand for two ``--sim`` commands' simulators: a token one
issues the other accepts, one ended by either is refused by both, and a damaged file costs only a login.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest

from kitekit.clock import ManualClock
from kitekit.sim.angel.auth import AngelAuth
from kitekit.sim.angel.config import AngelSimConfig
from kitekit.sim.angel.errors import AngelError
from kitekit.sim.upstox.auth import UpstoxAuth
from kitekit.sim.upstox.config import UpstoxSimConfig
from kitekit.wire.upstox.errors import UpstoxError


@dataclass
class Logins:
    """One simulator's logins, the same three verbs on either broker."""

    issue: Callable[[], str]
    accepts: Callable[[str], bool]
    end: Callable[[str], None]


def answers(check: Callable[[], object], refusal: type[Exception]) -> bool:
    """Return True unless ``check`` raises the simulator's ``refusal``."""
    try:
        check()
    except refusal:
        return False
    return True


def upstox(state: Path, clock: ManualClock) -> Logins:
    auth = UpstoxAuth(UpstoxSimConfig(state_file=state), clock)

    return Logins(
        lambda: auth.new_grant().access_token,
        lambda t: answers(lambda: auth.authenticate(f"Bearer {t}"), UpstoxError),
        lambda t: auth.logout(auth.authenticate(f"Bearer {t}")),
    )


def angel(state: Path, clock: ManualClock) -> Logins:
    config = AngelSimConfig(state_file=state)
    auth = AngelAuth(config, clock, totp_clock=clock)

    def issue() -> str:
        return auth.login(config.client_code, config.pin, pyotp.TOTP(config.totp_secret).at(clock.now())).jwt

    return Logins(
        issue,
        lambda jwt: answers(lambda: auth.session_of(f"Bearer {jwt}"), AngelError),
        lambda jwt: auth.logout(auth.session_of(jwt)),
    )


SIMULATORS = {"upstox": upstox, "angel": angel}


@pytest.mark.parametrize("broker", SIMULATORS)
def test_a_token_one_simulator_issued_is_accepted_by_another_on_the_world_until_either_ends_it(
    broker: str, tmp_path: Path, sim_clock: ManualClock
) -> None:
    state = tmp_path / f"{broker}-state.json"
    first = SIMULATORS[broker](state, sim_clock)
    token = first.issue()
    second = SIMULATORS[broker](state, sim_clock)  # the next command's simulator
    assert second.accepts(token)
    third = SIMULATORS[broker](state, sim_clock)  # one running beside it
    later = third.issue()
    assert first.accepts(later) and second.accepts(later)
    second.end(token)
    assert not first.accepts(token) and not third.accepts(token)
    assert first.accepts(later)  # the other session is left alone
    assert state.stat().st_mode & 0o777 == 0o600  # tokens are secrets
    sim_clock.advance(timedelta(days=2))  # past every token's end
    assert not SIMULATORS[broker](state, sim_clock).accepts(later)


@pytest.mark.parametrize("broker", SIMULATORS)
def test_a_damaged_token_file_costs_only_a_new_login(broker: str, tmp_path: Path, sim_clock: ManualClock) -> None:
    state = tmp_path / f"{broker}-state.json"
    state.write_text('{"grants": [{"nonsense": 1}], "sessions": 7}')
    logins = SIMULATORS[broker](state, sim_clock)
    assert logins.accepts(logins.issue())
