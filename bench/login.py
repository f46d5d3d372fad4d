"""How long logging in takes each way: a local password, an LDAP directory's, an OpenID provider.

Run from the checkout: `.venv/bin/python -m bench.login [--runs 10]` (needs Playwright with
Debian's Chromium, OpenLDAP's slapd and the Node proxy; no Docker; see bench/README.md).

One stack in process mode (hub name `mlbl`), configured as tests/browser/
test_institutional_login.py configures its own: a real OpenID provider (tests/identity/oidc.py)
and a real slapd (tests/identity/ldap_server.py) on this machine, one approved person of each
way (members of "students", approved at their first login), and a local person made through
the admin API. Unlike the tests' stacks, passwords are hashed as in production (PBKDF2,
1,000,000 rounds; `--test-hasher` for the tests' MD5): checking one is most of a local login.

Each run is a fresh Chromium context (no cookies, none at the provider either), timed from
`page.goto` of the portal's login page until "My workspaces" has loaded (its load event; its
heading is checked after the clock stops), in two parts: until the form the password goes into
has loaded (the portal's; the provider's, after "Log in with ...", for OpenID), and from there,
filling it in included, until "My workspaces". One untimed warm-up of each way first (which
also makes the directory's and the provider's person); then the rounds, the order of the three
ways turning each round. The medians, and each way's against the local password's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.common import git_commit
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.test_institutional_login import (
    LENA,
    OLIVIA,
    PROVIDER_NAME,
    STUDENTS,
    login_environment,
    provider_for,
    provider_origin,
)
from tests.hub_stack import RunningHub, free_port, running_stack
from tests.identity.ldap_server import SLAPD, LdapServer

HUB = "mlbl"
RESULTS = Path(__file__).resolve().parent / "results"
LOCAL = ("lucy", "qzv-bench-local-7")
WAYS = (("local", "local password"), ("ldap", "LDAP directory"), ("oidc", "OpenID Connect"))


def timed_form_login(page, hub: RunningHub, username: str, password: str) -> tuple[float, float]:
    """The portal's form (a local or a directory password): seconds to the form, then to home."""
    start = time.perf_counter()
    page.goto(f"{hub.url}/accounts/login/")
    form = time.perf_counter()
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation(url=f"{hub.url}/"):
        page.click("main button[type=submit]")
    return form - start, time.perf_counter() - form


def timed_provider_login(page, hub: RunningHub, provider, username: str, password: str):
    """ "Log in with ...", the provider's form, and back: seconds to its form, then to home."""
    start = time.perf_counter()
    page.goto(f"{hub.url}/accounts/login/")
    with page.expect_navigation(url=f"{provider_origin(provider)}/accounts/login/**"):
        page.get_by_role("link", name=f"Log in with {PROVIDER_NAME}").click()
    form = time.perf_counter()
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation(url=f"{hub.url}/"):
        page.get_by_role("button", name="Sign in").click()
    return form - start, time.perf_counter() - form


def one_run(browser, login: Callable) -> tuple[float, float]:
    context = browser.new_context()
    context.set_default_timeout(30_000)
    try:
        page = context.new_page()
        parts = login(page)
        heading = page.locator("h1").inner_text()
        if heading != "My workspaces" or page.locator("main > p.messages .error").count():
            raise AssertionError(f"not on an approved person's home page: {heading!r}")
        return parts
    finally:
        context.close()


def measure(browser, hub: RunningHub, provider, runs: int) -> dict[str, list[tuple]]:
    logins = {
        "local": lambda page: timed_form_login(page, hub, *LOCAL),
        "ldap": lambda page: timed_form_login(page, hub, *LENA),
        "oidc": lambda page: timed_provider_login(page, hub, provider, *OLIVIA),
    }
    order = [way for way, _ in WAYS]
    for way in order:  # warm-up: the first login of each makes its person
        one_run(browser, logins[way])
    samples: dict[str, list[tuple]] = {way: [] for way in order}
    for round_ in range(runs):
        turn = round_ % len(order)
        for way in order[turn:] + order[:turn]:
            samples[way].append(one_run(browser, logins[way]))
        print(f"round {round_ + 1}/{runs} done", flush=True)
    return samples


def summary(samples: dict[str, list[tuple]]) -> dict[str, dict]:
    out = {}
    for way, _ in WAYS:
        totals = [form + rest for form, rest in samples[way]]
        out[way] = {
            "median": statistics.median(totals),
            "min": min(totals),
            "max": max(totals),
            "to_form_median": statistics.median(form for form, _ in samples[way]),
            "form_to_home_median": statistics.median(rest for _, rest in samples[way]),
        }
    local = out["local"]["median"]
    for figures in out.values():
        figures["ratio"] = figures["median"] / local
    return out


def report(result: dict) -> None:
    print(
        f"\nLogin, from the login page to 'My workspaces' loaded: Chromium, a fresh context each "
        f"run, {result['runs']} runs each; {result['hasher']} passwords; at {result['commit']}"
    )
    head = f"{'way':16}{'median':>9}{'min':>8}{'max':>8}{'to the form':>13}{'form→home':>11}"
    print(f"{head}{'vs local':>10}")
    for way, label in WAYS:
        f = result["summary"][way]
        print(
            f"{label:16}{f['median']:9.3f}{f['min']:8.3f}{f['max']:8.3f}"
            f"{f['to_form_median']:13.3f}{f['form_to_home_median']:11.3f}{f['ratio']:10.2f}"
        )
    print(
        "seconds; 'to the form': until the form the password goes into has loaded (the "
        "provider's for OpenID); 'form→home': typing it in and on to 'My workspaces'"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs of each (default 10)")
    parser.add_argument(
        "--test-hasher", action="store_true", help="the tests' MD5 hasher, not PBKDF2"
    )
    args = parser.parse_args()
    if not CHROMIUM.exists() or not Path(SLAPD).exists():
        raise SystemExit(f"needs Chromium at {CHROMIUM} and OpenLDAP's slapd ({SLAPD})")
    from playwright.sync_api import sync_playwright

    hasher = "MD5 (the tests')" if args.test_hasher else "PBKDF2 (production)"
    with tempfile.TemporaryDirectory(prefix="mlhub-bench-login-") as scratch:
        folder = Path(scratch)
        public_port = free_port()
        provider = provider_for(folder / "oidc", public_port)
        provider.add_person(*OLIVIA, email="olivia@uni.example", groups=[STUDENTS])
        directory = LdapServer(folder / "ldap")
        with provider, directory:
            directory.add_person(*LENA, email="lena@uni.example")
            directory.set_groups(LENA[0], [STUDENTS])
            extra = login_environment(provider, directory)
            extra["MLHUB_TEST_FAST_PASSWORD_HASHER"] = "true" if args.test_hasher else "false"
            (folder / "stack").mkdir()
            stack = running_stack(folder / "stack", "process", HUB, extra, public_port=public_port)
            hub = next(stack)
            try:
                hub.user_create(*LOCAL)
                with sync_playwright() as driver:
                    browser = driver.chromium.launch(
                        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
                    )
                    try:
                        samples = measure(browser, hub, provider, args.runs)
                    finally:
                        browser.close()
            except BaseException:
                print(hub.logs(30))
                raise
            finally:
                stack.close()

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result = {
        "when": stamp,
        "commit": git_commit(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load": os.getloadavg(),
        },
        "runs": args.runs,
        "hasher": hasher,
        "summary": summary(samples),
        "samples": {way: [list(parts) for parts in runs] for way, runs in samples.items()},
    }
    report(result)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"login-{stamp}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
