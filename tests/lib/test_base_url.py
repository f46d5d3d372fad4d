"""MLHUB_BASE_URL, the path prefix: normalised, refused when not a plain path, and agreeing
with MLHUB_PUBLIC_URL's path; the URLs built from it."""

from __future__ import annotations

import pytest

from lib import env
from lib.origins import workspace_url
from lib.stack import Stack


@pytest.mark.parametrize(
    "raw, normal",
    [
        ("/", "/"),
        ("", "/"),
        ("/mlhub/", "/mlhub/"),
        ("/mlhub", "/mlhub/"),
        ("mlhub", "/mlhub/"),
        ("/tools/ml-hub_2.0~x/", "/tools/ml-hub_2.0~x/"),
    ],
)
def test_a_plain_path_gets_a_leading_and_a_trailing_slash(raw, normal):
    assert env.check_base_url(raw) == normal


@pytest.mark.parametrize(
    "raw",
    [
        "/a/../b/",
        "/../",
        "/./",
        "/a?b=1",
        "/a#top",
        "//mlhub/",
        "/a//b/",
        "/ml hub/",
        " /mlhub/",
        "/mlhub/\n",
        "/mlhüb/",
        "/a%2Fb/",
        "/a\\b/",
    ],
)
def test_anything_but_a_plain_path_is_refused(raw):
    with pytest.raises(env.ConfigError, match="MLHUB_BASE_URL=.* is not a plain path"):
        env.check_base_url(raw)


def test_the_default_is_the_root(monkeypatch):
    monkeypatch.delenv("MLHUB_BASE_URL", raising=False)
    monkeypatch.setenv("MLHUB_PUBLIC_URL", "https://tools.example.org")
    assert env.base_url() == "/"
    assert env.public_url() == env.site_url() == "https://tools.example.org"


@pytest.mark.parametrize(
    "public",
    [
        "https://tools.example.org",
        "https://tools.example.org/",
        "https://tools.example.org/mlhub",
        "https://tools.example.org/mlhub/",
    ],
)
def test_the_public_url_may_carry_the_prefix_or_not(monkeypatch, public):
    monkeypatch.setenv("MLHUB_BASE_URL", "/mlhub")
    monkeypatch.setenv("MLHUB_PUBLIC_URL", public)
    assert env.public_url() == "https://tools.example.org"
    assert env.site_url() == "https://tools.example.org/mlhub"


@pytest.mark.parametrize("base", ["/", "/other/"])
def test_a_public_url_whose_path_is_not_the_prefix_is_refused(monkeypatch, base):
    monkeypatch.setenv("MLHUB_BASE_URL", base)
    monkeypatch.setenv("MLHUB_PUBLIC_URL", "https://tools.example.org/mlhub/")
    with pytest.raises(env.ConfigError, match=f"ends in /mlhub/, but MLHUB_BASE_URL is {base}"):
        env.public_url()


@pytest.mark.parametrize(
    "public", ["tools.example.org", "https://tools.example.org/?x=1", "https://h/a/../b"]
)
def test_a_public_url_that_is_no_origin_and_prefix_is_refused(monkeypatch, public):
    monkeypatch.delenv("MLHUB_BASE_URL", raising=False)
    monkeypatch.setenv("MLHUB_PUBLIC_URL", public)
    with pytest.raises(env.ConfigError, match="MLHUB_PUBLIC_URL"):
        env.public_url()


def test_a_workspace_url_carries_the_prefix_on_its_own_origin():
    url = workspace_url(
        "http://localhost:8000", "alice", "thesis", single_origin=False, base_url="/mlhub/"
    )
    assert url == "http://alice.localhost:8000/mlhub/user/alice/thesis/"


def test_a_single_origin_workspace_url_carries_the_prefix_too():
    url = workspace_url(
        "https://tools.example.org", "alice", "thesis", single_origin=True, base_url="/mlhub/"
    )
    assert url == "https://tools.example.org/mlhub/user/alice/thesis/"


def test_the_stack_waits_and_reports_under_its_prefix():
    stack = Stack({"MLHUB_PUBLIC_URL": "http://localhost:9000", "MLHUB_BASE_URL": "mlhub"})
    assert stack.base_url() == "/mlhub/"
    assert stack.site_url() == "http://localhost:9000/mlhub"
    assert Stack({"MLHUB_PUBLIC_URL": "http://localhost:9000/"}).site_url() == (
        "http://localhost:9000"
    )


def test_make_run_refuses_a_bad_prefix_before_it_writes_anything(monkeypatch, tmp_path, capsys):
    from lib import stack

    data = tmp_path / "data"
    monkeypatch.setenv("MLHUB_DATA_DIR", str(data))
    monkeypatch.setenv("MLHUB_BASE_URL", "/mlhub/../")
    assert stack.main() == 1
    assert "MLHUB_BASE_URL='/mlhub/../' is not a plain path" in capsys.readouterr().err
    assert not data.exists()
