"""Credentials and settings: precedence, malformed config files, and the git-ignore warning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kitekit.config import Settings, load_settings
from kitekit.errors import ConfigError, CredentialsRequiredError


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from an empty directory with an empty user config dir and no KITE_* variables."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KITEKIT_CONFIG_DIR", str(tmp_path / "userconf"))
    for name in ("KITE_API_KEY", "KITE_API_SECRET", "KITE_ACCESS_TOKEN", "KITE_CONFIG", "KITE_TOTP_SECRET"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_the_classic_config_json_works_as_it_is(tmp_path: Path) -> None:
    write(tmp_path / "config.json", json.dumps({"api_key": "k1", "api_secret": "s1", "access_token": "t1"}))
    s = load_settings(env={})
    assert (s.api_key, s.api_secret, s.access_token) == ("k1", "s1", "t1")
    assert s.config_file == tmp_path / "config.json"


def test_precedence_is_arguments_then_env_then_dotenv_then_config(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.json", json.dumps({"api_key": "from-file", "api_secret": "f", "user_id": "F1"}))
    dotenv = write(tmp_path / "my.env", "KITE_API_KEY=from-dotenv\nKITE_API_SECRET=d\n")
    s = load_settings(
        {"api_key": "from-arg"},
        config_file=cfg,
        env={"KITE_API_KEY": "from-env", "KITE_API_SECRET": "e"},
        dotenv_path=dotenv,
    )
    assert (s.api_key, s.api_secret, s.user_id) == ("from-arg", "e", "F1")
    assert s.source_of("api_key") == "argument"
    assert s.source_of("api_secret") == "env KITE_API_SECRET"
    assert s.source_of("user_id") == str(cfg)
    s = load_settings(config_file=cfg, env={}, dotenv_path=dotenv)
    assert (s.api_key, s.api_secret) == ("from-dotenv", "d")


def test_user_config_dir_is_the_default_location(tmp_path: Path) -> None:
    write(tmp_path / "userconf" / "config.json", json.dumps({"api_key": "k2"}))
    assert load_settings(env={}).api_key == "k2"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"api_key": "k", "api_secret": }', r"not valid JSON \(line 1, column 32"),
        ('["api_key", "k"]', "must hold a JSON object, not a list"),
        ('{"api_key": 12345}', '"api_key" must be a string, not int'),
        ('{"api_secret": ["s"]}', '"api_secret" must be a string, not list'),
        ("", "not valid JSON"),
    ],
)
def test_malformed_config_gives_one_clear_message_naming_file_and_key(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = write(tmp_path / "config.json", content)
    with pytest.raises(ConfigError, match=expected) as err:
        load_settings(env={})
    assert str(path) in str(err.value)


def test_missing_keys_name_the_key_the_variable_and_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "config.json", json.dumps({"api_key": "k"}))
    with pytest.raises(CredentialsRequiredError) as err:
        load_settings(env={}).require("api_key", "api_secret")
    message = str(err.value)
    assert '"api_secret"' in message and "KITE_API_SECRET" in message and str(path) in message
    assert "--sim" in message


def test_a_named_config_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config_file=tmp_path / "nope.json", env={})


def test_secrets_never_show_in_the_repr() -> None:
    s = Settings(api_key="visible", api_secret="hidden-secret", access_token="hidden-token", totp_secret="HIDDEN")
    text = repr(s)
    assert "visible" in text and "hidden" not in text and "HIDDEN" not in text
