"""``kitekit login`` with what a user gives it: no api_secret, a pasted URL on piped input, an input that ends."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import requests

from kitekit.cli import run
from kitekit.sim.config import LoginMode
from kitekit.sim.server import SimServer
from tests.conftest import empty_cli_home

FAILED, CONFIG = 1, 5


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return empty_cli_home(tmp_path, monkeypatch, columns=200)


def approved_redirect(sim: SimServer) -> str:
    sim.sim.config.login_mode = LoginMode.AUTO
    try:
        answer = requests.get(
            f"{sim.url}/connect/login", params={"api_key": sim.sim.config.api_key, "v": "3"}, allow_redirects=False,
            timeout=5,
        )  # fmt: skip
    finally:
        sim.sim.config.login_mode = LoginMode.FORM
    return str(answer.headers["location"])


def test_login_without_an_api_secret_fails_at_once_naming_it(
    home: Path, cli_sim: SimServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An api_key alone, as a new user sets it first: every login ends in an exchange that needs the secret.
    monkeypatch.setenv("KITE_API_KEY", cli_sim.sim.config.api_key)
    monkeypatch.setenv("KITE_LOGIN_URL", f"{cli_sim.url}/connect/login")
    monkeypatch.setenv("KITE_ROOT", cli_sim.url)
    for argv in (["login", "--no-browser", "--timeout", "3"], ["login", "--paste", approved_redirect(cli_sim)]):
        assert run(argv) == CONFIG
        err = capsys.readouterr().err
        assert 'Missing "api_secret"' in err and "KITE_API_SECRET" in err and "Open this URL" not in err
    assert not cli_sim.sim.requests.get("POST /session/token")


@pytest.fixture
def on_sim(home: Path, cli_sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    monkeypatch.setenv("KITE_SIM_URL", cli_sim.url)
    return cli_sim


def test_login_paste_dash_reads_a_piped_url_without_a_python_warning(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # pytest turns warnings into errors here, so getpass's "Can not control echo" would fail the command.
    monkeypatch.setattr("sys.stdin", io.StringIO(approved_redirect(on_sim) + "\n"))
    assert run(["login", "--paste", "-"]) == 0
    captured = capsys.readouterr()
    assert "Logged in: KK1234" in captured.out
    assert "Warning" not in captured.err and "getpass" not in captured.err


@pytest.mark.parametrize("piped", ["", "\n"], ids=["closed input", "an empty line"])
def test_the_end_of_input_or_an_empty_line_at_the_paste_prompt_says_nothing_was_pasted_and_exits_1(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, piped: str
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(piped))
    assert run(["login", "--paste", "-"]) == FAILED
    err = capsys.readouterr().err
    assert "Nothing was pasted, so nothing was sent" in err and "Aborted" not in err
    assert not on_sim.sim.requests.get("POST /session/token")
