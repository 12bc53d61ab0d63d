from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from eth_account import Account
from nacl.signing import SigningKey

from services.config import Config, ConfigError, build_parser, config_from_args, config_to_toml
from services.logs import redact
from services.secrets import (
    AsterV1Credentials,
    AsterV3Credentials,
    BackpackCredentials,
    ParadexCredentials,
    Secret,
    credentials_env,
    load_credentials,
    read_secret_file,
)

SYMBOLS = {"backpack": "SOL_USDC_PERP", "aster": "SOLUSDT", "paradex": "BTC-USD-PERP"}


def config(exchange: str, *, sim: bool = False) -> Config:
    argv = ["--exchange", exchange, "--symbol", SYMBOLS[exchange], "--spread", "0.05", "--quantity", "0.1"]
    return config_from_args(build_parser().parse_args([*argv, "--sim"] if sim else argv), env={})


def backpack_pair(seed_byte: int) -> tuple[str, str]:
    key = SigningKey(bytes([seed_byte]) * 32)
    return base64.b64encode(bytes(key.verify_key)).decode(), base64.b64encode(bytes(key)).decode()


def secret_file(path: Path, text: str, mode: int) -> Path:
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


def problem_of(cfg: Config, env: dict[str, str], **kwargs: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_credentials(cfg, env=env, **kwargs)  # type: ignore[arg-type]
    (problem,) = caught.value.problems
    return problem


def test_secret_hides_its_value() -> None:
    secret = Secret("hunter2-but-longer")
    assert repr(secret) == str(secret) == f"{secret}" == "Secret('***')"
    assert secret.reveal() == "hunter2-but-longer"
    assert secret == Secret("hunter2-but-longer") and secret != Secret("other-value-123")
    assert not hasattr(secret, "__dict__")
    assert redact("x hunter2-but-longer y") == "x *** y"


def test_backpack_from_environment() -> None:
    api_key, seed = backpack_pair(1)
    creds = load_credentials(
        config("backpack"), env={"BACKPACK_API_KEY": api_key, "BACKPACK_SECRET_KEY": seed}
    )
    assert creds == BackpackCredentials(api_key=api_key, secret_key=Secret(seed))
    assert isinstance(creds, BackpackCredentials)
    assert creds.secret_key.reveal() == seed
    assert seed not in repr(creds)


def test_backpack_key_pair_must_match() -> None:
    api_key, _ = backpack_pair(1)
    _, other_seed = backpack_pair(2)
    problem = problem_of(config("backpack"), {"BACKPACK_API_KEY": api_key, "BACKPACK_SECRET_KEY": other_seed})
    assert (
        problem
        == "BACKPACK_API_KEY is not the public key of BACKPACK_SECRET_KEY: they come from different key pairs"
    )
    assert other_seed not in problem


def test_backpack_bad_seed_is_explained_without_showing_it() -> None:
    problem = problem_of(
        config("backpack"), {"BACKPACK_API_KEY": "x", "BACKPACK_SECRET_KEY": "bm90LTMyLWJ5dGVzLWxvbmc="}
    )
    assert problem.startswith("BACKPACK_SECRET_KEY: Backpack secret must be a base64 32-byte ED25519 seed")
    assert "bm90LTMyLWJ5dGVzLWxvbmc=" not in problem


@pytest.mark.parametrize(
    ("exchange", "env", "names"),
    [
        ("backpack", {}, ["BACKPACK_API_KEY", "BACKPACK_SECRET_KEY"]),
        ("aster", {}, ["ASTER_USER", "ASTER_SIGNER", "ASTER_SIGNER_PRIVATE_KEY"]),
        ("aster", {"ASTER_AUTH": "v3"}, ["ASTER_USER", "ASTER_SIGNER", "ASTER_SIGNER_PRIVATE_KEY"]),
        ("aster", {"ASTER_AUTH": "v1"}, ["ASTER_API_KEY", "ASTER_SECRET_KEY"]),
        ("paradex", {}, ["PARADEX_ACCOUNT_ADDRESS", "PARADEX_L2_PRIVATE_KEY"]),
    ],
)
def test_missing_credentials_name_the_variables(exchange: str, env: dict[str, str], names: list[str]) -> None:
    problem = problem_of(config(exchange), env)
    assert problem.startswith(f"missing {exchange} credentials: set {' and '.join(names)} in the environment")
    assert f"(missing: {', '.join(names)})" in problem
    assert "_FILE may instead name a file with mode 0600" in problem


def test_partly_missing_names_only_the_missing_one() -> None:
    api_key, _ = backpack_pair(1)
    problem = problem_of(config("backpack"), {"BACKPACK_API_KEY": api_key, "BACKPACK_SECRET_KEY": "  "})
    assert "(missing: BACKPACK_SECRET_KEY)" in problem


def test_unknown_aster_auth() -> None:
    problem = problem_of(config("aster"), {"ASTER_AUTH": "v2"})
    assert problem == "ASTER_AUTH v2 is not supported: use v3 (the default, EIP-712) or v1 (HMAC)"


def test_aster_v3_checks_the_signer_key() -> None:
    user, signer, other = Account.create(), Account.create(), Account.create()
    env = {
        "ASTER_USER": user.address,
        "ASTER_SIGNER": signer.address,
        "ASTER_SIGNER_PRIVATE_KEY": signer.key.hex(),
    }
    creds = load_credentials(config("aster"), env=env)
    assert isinstance(creds, AsterV3Credentials)
    assert (creds.user, creds.signer) == (user.address, signer.address)
    assert creds.signer_private_key.reveal() == signer.key.hex()
    problem = problem_of(config("aster"), {**env, "ASTER_SIGNER_PRIVATE_KEY": other.key.hex()})
    assert problem == (
        f"ASTER_SIGNER {signer.address} is not the address of ASTER_SIGNER_PRIVATE_KEY "
        f"(that key signs as {other.address})"
    )
    assert other.key.hex() not in problem
    problem = problem_of(config("aster"), {**env, "ASTER_SIGNER_PRIVATE_KEY": "0x1234"})
    assert problem == "ASTER_SIGNER_PRIVATE_KEY is not a 32-byte hex private key"
    problem = problem_of(config("aster"), {**env, "ASTER_USER": "alice"})
    assert problem == "ASTER_USER alice is not a 0x-prefixed 20-byte hex address"


def test_aster_v1() -> None:
    env = {"ASTER_AUTH": "V1", "ASTER_API_KEY": "api-key-abc", "ASTER_SECRET_KEY": "hmac-secret-xyz-123"}
    creds = load_credentials(config("aster"), env=env)
    assert creds == AsterV1Credentials(api_key="api-key-abc", secret_key=Secret("hmac-secret-xyz-123"))


def test_paradex() -> None:
    env = {"PARADEX_ACCOUNT_ADDRESS": "0x0abc", "PARADEX_L2_PRIVATE_KEY": "0x5eed5eed5eed"}
    creds = load_credentials(config("paradex"), env=env)
    assert creds == ParadexCredentials(account_address="0x0abc", l2_private_key=Secret("0x5eed5eed5eed"))
    problem = problem_of(config("paradex"), {**env, "PARADEX_L2_PRIVATE_KEY": "not-hex-key"})
    assert problem == "PARADEX_L2_PRIVATE_KEY is not a hex private key"


def test_secret_file_with_mode_0600_is_accepted(tmp_path: Path) -> None:
    api_key, seed = backpack_pair(3)
    path = secret_file(tmp_path / "bp.key", seed, 0o600)
    creds = load_credentials(
        config("backpack"), env={"BACKPACK_API_KEY": api_key, "BACKPACK_SECRET_KEY_FILE": str(path)}
    )
    assert isinstance(creds, BackpackCredentials)
    assert creds.secret_key.reveal() == seed
    assert read_secret_file(secret_file(tmp_path / "ro.key", "abc", 0o400), variable="X_FILE") == "abc"


def test_secret_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    api_key, seed = backpack_pair(3)
    path = secret_file(tmp_path / "bp.key", seed, 0o644)
    problem = problem_of(
        config("backpack"), {"BACKPACK_API_KEY": api_key, "BACKPACK_SECRET_KEY_FILE": str(path)}
    )
    assert problem == (
        f"BACKPACK_SECRET_KEY_FILE {path} has mode 0644: a secret file must be readable by its owner only; "
        f"run: chmod 600 {path}"
    )
    assert seed not in problem
    path.chmod(0o640)
    assert "has mode 0640" in problem_of(
        config("backpack"), {"BACKPACK_API_KEY": api_key, "BACKPACK_SECRET_KEY_FILE": str(path)}
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_secret_file_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    path = secret_file(tmp_path / "k", "value", 0o600)
    os.chown(path, 4242, -1)
    with pytest.raises(ConfigError, match=r"is owned by uid 4242, not by this user \(uid 0\)"):
        read_secret_file(path, variable="X_FILE")


def test_secret_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot open it"):
        read_secret_file(tmp_path / "absent", variable="X_FILE")
    with pytest.raises(ConfigError, match="is empty"):
        read_secret_file(secret_file(tmp_path / "empty", "  ", 0o600), variable="X_FILE")
    with pytest.raises(ConfigError, match="is not a regular file"):
        read_secret_file(tmp_path, variable="X_FILE")
    os.mkfifo(tmp_path / "fifo", 0o600)
    with pytest.raises(ConfigError, match="is not a regular file"):
        read_secret_file(tmp_path / "fifo", variable="X_FILE")
    path = secret_file(tmp_path / "k", "v", 0o600)
    problem = problem_of(
        config("backpack"),
        {"BACKPACK_API_KEY": "a", "BACKPACK_SECRET_KEY": "b", "BACKPACK_SECRET_KEY_FILE": str(path)},
    )
    assert problem == "both BACKPACK_SECRET_KEY and BACKPACK_SECRET_KEY_FILE are set: keep one"


def test_risk_role_prefers_its_own_key_and_falls_back() -> None:
    trading_key, trading_seed = backpack_pair(4)
    risk_key, risk_seed = backpack_pair(5)
    env = {"BACKPACK_API_KEY": trading_key, "BACKPACK_SECRET_KEY": trading_seed}
    cfg = config("backpack")
    assert load_credentials(cfg, role="risk", env=env) == load_credentials(cfg, env=env)
    own = {**env, "RISK_BACKPACK_API_KEY": risk_key, "RISK_BACKPACK_SECRET_KEY": risk_seed}
    risk = load_credentials(cfg, role="risk", env=own)
    assert isinstance(risk, BackpackCredentials) and risk.api_key == risk_key
    trading = load_credentials(cfg, role="trading", env=own)
    assert isinstance(trading, BackpackCredentials) and trading.api_key == trading_key
    problem = problem_of(cfg, {**env, "RISK_BACKPACK_API_KEY": risk_key}, role="risk")
    assert problem.startswith("RISK_BACKPACK_API_KEY is not the public key of BACKPACK_SECRET_KEY")


def test_risk_role_missing_message_mentions_the_risk_names() -> None:
    problem = problem_of(config("paradex"), {}, role="risk")
    assert "(missing: RISK_PARADEX_ACCOUNT_ADDRESS, RISK_PARADEX_L2_PRIVATE_KEY)" in problem
    assert "the risk guardian reads RISK_<NAME> first" in problem


def test_sim_needs_no_credentials_but_uses_them_when_given() -> None:
    assert load_credentials(config("backpack", sim=True), env={}) is None
    api_key, seed = backpack_pair(6)
    env = {"BACKPACK_API_KEY": api_key, "BACKPACK_SECRET_KEY": seed}
    assert load_credentials(config("backpack", sim=True), env=env) == load_credentials(
        config("backpack"), env=env
    )
    assert "missing: BACKPACK_SECRET_KEY" in problem_of(
        config("backpack", sim=True), {"BACKPACK_API_KEY": api_key}
    )


def test_credentials_env_round_trips_for_children() -> None:
    api_key, seed = backpack_pair(7)
    creds = load_credentials(
        config("backpack"), env={"BACKPACK_API_KEY": api_key, "BACKPACK_SECRET_KEY": seed}
    )
    assert creds is not None
    assert credentials_env(creds) == {"BACKPACK_API_KEY": api_key, "BACKPACK_SECRET_KEY": seed}
    risk_env = credentials_env(creds, role="risk")
    assert load_credentials(config("backpack"), role="risk", env=risk_env) == creds
    v1 = AsterV1Credentials(api_key="k-123", secret_key=Secret("s-123456789"))
    assert credentials_env(v1)["ASTER_AUTH"] == "v1"
    assert load_credentials(config("aster"), env=credentials_env(v1)) == v1


def test_secrets_stay_out_of_the_config_file() -> None:
    api_key, seed = backpack_pair(8)
    env = {"BACKPACK_API_KEY": api_key, "BACKPACK_SECRET_KEY": seed}
    cfg = config("backpack")
    load_credentials(cfg, env=env)
    assert seed not in config_to_toml(cfg) and seed not in repr(cfg)


def test_bad_role_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="role must be"):
        load_credentials(config("backpack"), role="admin", env={})  # type: ignore[arg-type]
