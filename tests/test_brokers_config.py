"""Choosing brokers and finding their credentials: flags, environment, .env and config.json, and the registry."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from kitekit.brokers.credentials import load_credentials
from kitekit.brokers.kite import KiteBroker
from kitekit.brokers.registry import REGISTRY, OpenOptions, choose, entry, open_broker, open_pair, with_opener
from kitekit.brokers.selection import choose_brokers
from kitekit.cli import run
from kitekit.errors import BrokerUnavailableError, ConfigError, CredentialsRequiredError, UnknownBrokerError
from kitekit.sim.server import SimServer

from .conftest import empty_cli_home

KNOWN = ("kite", "upstox", "angel")
SECRET = "s3cr3t-never-shown"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A new user's working directory: no config, no .env, no broker or Kite variables."""
    for name in ("KITEKIT_BROKER", "KITEKIT_DATA_BROKER", "KITEKIT_ORDER_BROKER", "UPSTOX_API_KEY", "ANGEL_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return empty_cli_home(tmp_path, monkeypatch, 200)


def config(home: Path, **content: object) -> Path:
    path = home / "config.json"
    path.write_text(json.dumps(content))
    return path


# -- which broker -------------------------------------------------------------------------------------------------
def test_kite_is_the_broker_when_nothing_chooses_one(home: Path) -> None:
    choice = choose_brokers(KNOWN, env={})
    assert (choice.data, choice.orders, choice.mixed) == ("kite", "kite", False)
    assert choice.sources["broker"] == "default"


def test_a_flag_beats_the_environment_which_beats_dotenv_which_beats_config_json(home: Path) -> None:
    config(home, broker="angel", order_broker="angel")
    assert choose_brokers(KNOWN, env={}).data == "angel"
    (home / ".env").write_text("KITEKIT_BROKER=upstox\n")
    assert choose_brokers(KNOWN, env={}).data == "upstox"
    assert choose_brokers(KNOWN, env={"KITEKIT_BROKER": "Kite"}).data == "kite"
    flagged = choose_brokers(KNOWN, broker="angel", env={"KITEKIT_BROKER": "kite"})
    assert flagged.data == "angel" and flagged.sources["broker"] == "--broker"


def test_data_and_orders_default_to_the_broker_and_may_each_be_chosen(home: Path) -> None:
    mixed = choose_brokers(KNOWN, data="angel", env={})
    assert (mixed.data, mixed.orders, mixed.mixed, mixed.names) == ("angel", "kite", True, ("angel", "kite"))
    config(home, data_broker="upstox")
    both = choose_brokers(KNOWN, broker="angel", env={"KITEKIT_ORDER_BROKER": "kite"})
    assert (both.data, both.orders) == ("upstox", "kite")
    assert both.sources["order_broker"] == "env KITEKIT_ORDER_BROKER"


def test_an_unknown_broker_names_where_it_was_set_and_the_choices(home: Path) -> None:
    path = config(home, broker="zerodha")
    with pytest.raises(UnknownBrokerError) as failure:
        choose_brokers(KNOWN, env={})
    assert str(path) in str(failure.value) and "angel, kite, upstox" in str(failure.value)
    config(home, broker=3)
    with pytest.raises(ConfigError, match="broker name in quotes"):
        choose_brokers(KNOWN, env={})


# -- the registry -------------------------------------------------------------------------------------------------
def test_a_broker_not_built_yet_is_a_configuration_error_that_says_so(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(REGISTRY, "upstox", replace(REGISTRY["upstox"], opener=None))  # as before its adapter
    with pytest.raises(BrokerUnavailableError, match=r"Upstox is not available in this kitekit yet.*kite"):
        choose("upstox")
    assert choose(data="angel", orders="kite").data == "angel"  # Angel One is built (brokers/angel/)
    with pytest.raises(UnknownBrokerError, match="Choose one of: angel, kite, upstox"):
        entry("fyers")


def test_a_broker_plugs_in_by_giving_its_entry_an_opener(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, "upstox", REGISTRY["upstox"])  # restored after the test
    with_opener("upstox", "kitekit.brokers.kite.broker:open_kite")
    assert choose("upstox").data == "upstox"
    monkeypatch.setenv("UPSTOX_API_KEY", "key")
    with pytest.raises(CredentialsRequiredError, match=r'Missing "api_secret" for Upstox\. Set UPSTOX_API_SECRET'):
        open_broker("upstox")


def test_opening_kite_without_an_api_key_names_it_and_where_to_put_it(home: Path) -> None:
    with pytest.raises(CredentialsRequiredError) as failure:
        open_broker("kite")
    assert 'Missing "api_key" for Kite Connect. Set KITE_API_KEY' in str(failure.value)


def test_opening_kite_builds_its_adapters_over_the_usual_settings(home: Path, cli_sim: SimServer) -> None:
    config_file = config(home, api_key=cli_sim.sim.config.api_key, root=cli_sim.url)
    broker = open_broker("kite", OpenOptions(config_file=config_file, login_hint="kitekit --sim login"))
    assert isinstance(broker, KiteBroker) and broker.manager.settings.root == cli_sim.url
    assert broker.session.saved() is None and "kitekit --sim login" in (broker.session.advice() or "")
    pair = open_pair(choose(), OpenOptions(config_file=config_file))
    assert pair.data is pair.order_broker and not pair.mixed


# -- credentials --------------------------------------------------------------------------------------------------
def test_another_brokers_credentials_live_in_its_own_section_and_variables(home: Path) -> None:
    upstox = REGISTRY["upstox"]
    config(home, api_key="kite-key", upstox={"api_key": "from-file", "api_secret": SECRET})
    (home / ".env").write_text("UPSTOX_API_KEY=from-dotenv\n")
    found = load_credentials("upstox", "Upstox", upstox.credentials, section="upstox", env={})
    assert found.get("api_key") == "from-dotenv" and found.get("api_secret") == SECRET
    assert found.source_of("api_secret") == str(home / "config.json")
    assert SECRET not in repr(found)
    over = load_credentials(
        "upstox", "Upstox", upstox.credentials, section="upstox", env={"UPSTOX_API_KEY": "env"}, overrides={}
    )
    assert over.get("api_key") == "env" and over.source_of("api_key") == "env UPSTOX_API_KEY"


def test_a_missing_credential_names_the_key_its_variable_and_its_section(home: Path) -> None:
    angel = REGISTRY["angel"]
    config(home, angel={"api_key": "k", "client_code": "C1"})
    found = load_credentials("angel", "Angel One SmartAPI", angel.credentials, section="angel", env={})
    with pytest.raises(CredentialsRequiredError) as failure:
        found.require(*angel.required)
    message = str(failure.value)
    assert '"pin", "totp_secret" for Angel One SmartAPI' in message and "ANGEL_PIN, ANGEL_TOTP_SECRET" in message
    assert '{"angel": {"pin": "...", "totp_secret": "..."}}' in message and str(home / "config.json") in message


def test_a_brokers_section_that_is_not_an_object_is_a_configuration_error(home: Path) -> None:
    config(home, upstox="key")
    with pytest.raises(ConfigError, match='"upstox" must be a JSON object'):
        load_credentials("upstox", "Upstox", REGISTRY["upstox"].credentials, section="upstox", env={})


# -- the command line ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--broker", "upstox", "status"], {}, 'Missing "api_key", "api_secret" for Upstox. Set UPSTOX_API_KEY'),
        (["--data", "angel", "--orders", "kite", "status"], {}, "for Angel One SmartAPI. Set ANGEL_API_KEY"),
        (["--broker", "fyers", "status"], {}, "Unknown broker 'fyers' (from --broker)"),
        (["status"], {"KITEKIT_BROKER": "upstox"}, "Set UPSTOX_API_KEY, UPSTOX_API_SECRET"),
    ],
)
def test_the_cli_refuses_a_broker_it_cannot_use_or_open_with_exit_code_5(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    env: dict[str, str],
    says: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert run(args) == 5
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_the_cli_runs_on_kite_when_it_is_chosen_explicitly(
    home: Path, cli_sim: SimServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KITE_SIM_URL", cli_sim.url)
    assert run(["--broker", "kite", "--data", "kite", "login"]) == 0
    capsys.readouterr()
    assert run(["--broker", "kite", "status"]) == 0
    out = capsys.readouterr().out
    assert "KK1234" in out and "valid" in out


def test_a_cli_run_hands_out_its_brokers_on_its_own_session_store_and_clock(
    home: Path, cli_sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kitekit.cli.context import CliContext

    context = CliContext.from_env(None, cli_sim.url, None)
    context.broker_flags = ("kite", None, None)
    try:
        pair = context.broker_pair()
        assert not pair.mixed and pair.data.clock is context.clock
        context.sim_login()
        assert pair.quotes().ltp("NSE:INFY")["NSE:INFY"].last_price > 0
        assert pair.data.session.valid() is not None
    finally:
        context.close()
