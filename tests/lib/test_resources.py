"""lib.resources: parsing, limits and the user_options shape, against literal values."""

from __future__ import annotations

import pytest

from lib.resources import (
    ENV_COUNT_MAX,
    ENV_NAME_MAX,
    ENV_TOTAL_MAX,
    ENV_VALUE_MAX,
    MIN_CPU,
    SSH_KEY_LENGTH_MAX,
    SSH_KEYS_MAX,
    Limits,
    ResourceError,
    WorkspaceResources,
    format_memory,
    gpus_text,
    kube_quantity,
    parse_cpu,
    parse_expires_at,
    parse_gpus,
    parse_memory,
    parse_ssh_keys,
    resources_from_options,
    validate_workspace_name,
)

G = 1024**3
M = 1024**2

LIMITS = Limits(images=("mlhub-workspace:latest", "other:1"), cpu_max=2, memory_max=8 * G)
GPU_LIMITS = Limits(
    images=("mlhub-workspace:latest", "other:1"), cpu_max=2, memory_max=8 * G, gpus_max=2
)


def refused(options: dict, limits: Limits = LIMITS) -> str:
    with pytest.raises(ResourceError) as caught:
        resources_from_options(options, limits)
    return str(caught.value)


@pytest.mark.parametrize("name", ["a", "ws1", "my-workspace", "a" + "b" * 29])
def test_it_accepts_jupyterhub_workspace_names(name):
    assert validate_workspace_name(name) == name


@pytest.mark.parametrize("name", ["", "1ws", "Ws", "ws_1", "ws.1", "a" * 31, "-ws", "ws 1"])
def test_it_refuses_bad_workspace_names(name):
    with pytest.raises(ResourceError, match="not valid"):
        validate_workspace_name(name)


@pytest.mark.parametrize(
    ("value", "cores"), [("1.5", 1.5), (2, 2.0), (0.5, 0.5), (" 3 ", 3.0), ("500m", 0.5)]
)
def test_it_parses_cpu_as_cores(value, cores):
    assert parse_cpu(value) == cores


@pytest.mark.parametrize("value", ["abc", "", None, True, [1], "1.5.2"])
def test_it_refuses_cpu_that_is_not_a_number(value):
    with pytest.raises(ResourceError, match="not a number of cores"):
        parse_cpu(value)


@pytest.mark.parametrize(
    "value",
    [
        "nan",
        "inf",
        "-inf",
        float("nan"),
        float("inf"),
        "1e400",
        pytest.param(10**400, id="10**400"),
        "infm",
    ],
)
def test_it_refuses_cpu_that_is_not_a_finite_number(value):
    with pytest.raises(ResourceError, match="not a number of cores"):
        parse_cpu(value)


# The floor (MIN_CPU): below 0.01 core Docker either sets no limit at all (1e-7 gave a CFS
# quota of 0) or fails the start with a raw runtime error. The message quotes what was typed.
@pytest.mark.parametrize(
    ("value", "typed"),
    [
        (1e-7, "1e-07"),
        ("1e-7", "1e-7"),
        ("0.009", "0.009"),
        (0.0099999, "0.0099999"),
        ("9m", "9m"),
        ("1m", "1m"),
        ("0.5m", "0.5m"),
        (0, "0"),
        ("0", "0"),
        (-1, "-1"),
        ("-0.5", "-0.5"),
        ("-10m", "-10m"),
    ],
)
def test_it_refuses_cpu_below_the_minimum_of_a_hundredth_of_a_core(value, typed):
    with pytest.raises(ResourceError) as caught:
        parse_cpu(value)
    assert str(caught.value) == f"cpu {typed} is below the minimum of 0.01 cores"


@pytest.mark.parametrize(
    ("value", "cores"),
    [
        (0.01, 0.01),
        ("0.01", 0.01),
        ("10m", 0.01),
        ("0.010", 0.01),
        (0.0104, 0.01),
        ("1.23456", 1.235),
        ("333.3333m", 0.333),
        (0.1 + 0.2, 0.3),
        ("2", 2.0),
    ],
)
def test_it_takes_cpu_from_the_minimum_up_rounded_to_a_millicore(value, cores):
    assert MIN_CPU == 0.01
    assert parse_cpu(value) == cores


@pytest.mark.parametrize(
    ("value", "size"),
    [
        (1024, 1024),
        ("512M", 512 * M),
        ("2G", 2 * G),
        ("1.5G", 1536 * M),
        ("256m", 256 * M),
        ("1024K", M),
        ("2GiB", 2 * G),
        ("2Gi", 2 * G),
        ("512Mi", 512 * M),
        ("512mb", 512 * M),
        ("1048576", M),
    ],
)
def test_it_parses_memory_in_binary_units_as_docker_does(value, size):
    assert parse_memory(value) == size


@pytest.mark.parametrize(("size", "text"), [(2 * G, "2Gi"), (1536 * M, "1536Mi"), (1000, "1000")])
def test_kubernetes_gets_memory_as_a_binary_quantity(size, text):
    assert kube_quantity(size) == text


@pytest.mark.parametrize("value", ["lots", "2X", "-1G", "", True, "1.5.G", 0])
def test_it_refuses_memory_that_is_not_a_size(value):
    with pytest.raises(ResourceError):
        parse_memory(value)


@pytest.mark.parametrize(
    ("size", "text"), [(512 * M, "512M"), (2 * G, "2G"), (1536 * M, "1536M"), (1000, "1000")]
)
def test_it_formats_memory_in_the_largest_exact_unit(size, text):
    assert format_memory(size) == text


@pytest.mark.parametrize(
    ("value", "gpus"),
    [
        ("all", "all"),
        ("ALL", "all"),
        ("0,1", ["0", "1"]),
        ("0", ["0"]),
        ([0, 1], ["0", "1"]),
        (["1", " 2"], ["1", "2"]),
        (None, None),
        ("", None),
        (0, None),
        ([], None),
        # a number is a count, text digits are device indices
        (2, 2),
        (2.0, 2),
        ("count:2", 2),
        ("count:0", None),
    ],
)
def test_it_parses_gpus(value, gpus):
    assert parse_gpus(value) == gpus


@pytest.mark.parametrize("value", ["gpu0", "0,,1", "-1", [True], "0,0", -2, 1.5, {"a": 1}])
def test_it_refuses_malformed_gpus(value):
    with pytest.raises(ResourceError):
        parse_gpus(value)


@pytest.mark.parametrize(("value", "count"), [(2, 2), ("2", 2), ("count:1", 1), ("0", None)])
def test_on_kubernetes_any_digits_are_a_count(value, count):
    assert parse_gpus(value, ids_allowed=False) == count


@pytest.mark.parametrize("value", ["0,1", [0, 1], "all"])
def test_on_kubernetes_device_indices_are_refused_with_the_reason(value):
    with pytest.raises(ResourceError, match="Kubernetes assigns GPUs itself, ask for a count"):
        parse_gpus(value, ids_allowed=False)


@pytest.mark.parametrize(
    ("gpus", "text"), [(None, ""), ("all", "all"), (("0", "1"), "0,1"), (2, "count:2")]
)
def test_gpus_text_reads_back_the_same(gpus, text):
    assert gpus_text(gpus) == text
    parsed = parse_gpus(text)
    assert (tuple(parsed) if isinstance(parsed, list) else parsed) == gpus


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, 0),
        (0, 0),
        ("", 0),
        (1900000000, 1900000000),
        ("1900000000", 1900000000),
        ("2030-01-01T00:00:00Z", 1893456000),
        ("2030-01-01T01:00:00+01:00", 1893456000),
        ("2030-01-01T00:00:00", 1893456000),
    ],
)
def test_it_reads_expiry_as_epoch_seconds(value, seconds):
    assert parse_expires_at(value) == seconds


@pytest.mark.parametrize("value", ["tomorrow", True, -5])
def test_it_refuses_an_expiry_that_is_not_a_time(value):
    with pytest.raises(ResourceError):
        parse_expires_at(value)


def test_it_fills_defaults_from_the_limits():
    assert resources_from_options({}, LIMITS) == WorkspaceResources(
        image="mlhub-workspace:latest", cpu=1.0, memory=2 * G, gpus=None, shm_size=None, env={}
    )


def test_limits_defaults_never_exceed_the_maximums():
    small = Limits(images=("i",), cpu_max=0.5, memory_max=512 * M)
    assert (small.default_image, small.default_cpu, small.default_memory) == ("i", 0.5, 512 * M)


def test_it_refuses_limits_whose_defaults_are_outside_them():
    with pytest.raises(ResourceError, match="default image"):
        Limits(images=("a",), cpu_max=1, memory_max=G, default_image="b")
    with pytest.raises(ResourceError, match="default cpu"):
        Limits(images=("a",), cpu_max=1, memory_max=G, default_cpu=2)
    with pytest.raises(ResourceError, match="no workspace image"):
        Limits(images=(), cpu_max=1, memory_max=G)


def test_it_reads_every_resource_from_options():
    options = {
        "image": "other:1",
        "cpu": "1.5",
        "memory": "1.5G",
        "gpus": "0,1",
        "shm_size": "256m",
        "env": {"MY_VAR": "x"},
    }
    assert resources_from_options(options, GPU_LIMITS) == (
        WorkspaceResources(
            image="other:1",
            cpu=1.5,
            memory=1536 * M,
            gpus=("0", "1"),
            shm_size=256 * M,
            env={"MY_VAR": "x"},
        )
    )


def test_to_options_is_the_json_user_options_shape():
    resources = WorkspaceResources(
        image="mlhub-workspace:latest",
        cpu=1.5,
        memory=2 * G,
        gpus=("0", "1"),
        shm_size=256 * M,
        env={"A": "b"},
    )
    assert resources.to_options() == {
        "image": "mlhub-workspace:latest",
        "cpu": 1.5,
        "memory": "2G",
        "gpus": "0,1",
        "shm_size": "256M",
        "env": {"A": "b"},
    }


def test_options_round_trip_through_the_check():
    resources = resources_from_options({"cpu": 2, "memory": "3G", "gpus": [1]}, GPU_LIMITS)
    assert resources_from_options(resources.to_options(), GPU_LIMITS) == resources


def test_it_ignores_keys_it_does_not_know():
    assert resources_from_options({"expires_at": 5, "profile": "x"}, LIMITS).image == (
        "mlhub-workspace:latest"
    )


def test_it_refuses_an_image_not_allowed():
    assert refused({"image": "evil:latest"}) == (
        "image 'evil:latest' is not allowed; allowed images: mlhub-workspace:latest, other:1"
    )


def test_it_refuses_cpu_above_the_maximum():
    assert refused({"cpu": 8}) == "cpu 8 is above the maximum of 2 cores"


def test_it_says_one_core_in_the_singular():
    one = Limits(images=("i",), cpu_max=1, memory_max=G)
    assert refused({"cpu": 1.5}, one) == "cpu 1.5 is above the maximum of 1 core"


def test_it_refuses_zero_negative_or_tiny_cpu():
    assert refused({"cpu": 0}) == "cpu 0 is below the minimum of 0.01 cores"
    assert refused({"cpu": "-1"}) == "cpu -1 is below the minimum of 0.01 cores"
    assert refused({"cpu": 1e-7}) == "cpu 1e-07 is below the minimum of 0.01 cores"


def test_it_takes_cpu_from_the_minimum_to_the_maximum_in_millicores():
    assert resources_from_options({"cpu": 0.01}, LIMITS).cpu == 0.01
    assert resources_from_options({"cpu": "10m"}, LIMITS).cpu == 0.01
    assert resources_from_options({"cpu": 2}, LIMITS).cpu == 2.0
    assert resources_from_options({"cpu": 2.0004}, LIMITS).cpu == 2.0  # rounds to the maximum
    assert refused({"cpu": 2.001}) == "cpu 2.001 is above the maximum of 2 cores"


def test_limits_refuse_cpu_bounds_below_the_minimum():
    for cpu_max in (0.001, 0, -1, float("nan")):
        with pytest.raises(ResourceError, match="cpu_max .* is below the minimum of 0.01 cores"):
            Limits(images=("i",), cpu_max=cpu_max, memory_max=G)
    with pytest.raises(ResourceError) as caught:
        Limits(images=("i",), cpu_max=1, memory_max=G, default_cpu=0.005)
    assert str(caught.value) == "default cpu 0.005 is below the minimum of 0.01 cores"
    # A default is rounded to a millicore as asked-for cores are.
    assert Limits(images=("i",), cpu_max=1, memory_max=G, default_cpu=0.12345).default_cpu == 0.123
    assert Limits(images=("i",), cpu_max=0.01, memory_max=G).default_cpu == 0.01


@pytest.mark.parametrize(
    "cpu", [1e-7, "1e-7", "0.009", "1m", 0, "nan", pytest.param(10**400, id="10**400")]
)
def test_the_docker_spawner_refuses_cpu_below_the_minimum_with_the_same_400(cpu):
    # The hub side, for a client that calls the hub's REST API directly: the same message.
    from tornado.web import HTTPError

    from spawners.docker import MLHubDockerSpawner

    spawner = MLHubDockerSpawner(
        workspace_images=["mlhub-workspace:latest"], cpu_max=2, memory_max="8G"
    )
    with pytest.raises(HTTPError) as caught:
        spawner.check_options({"cpu": cpu})
    assert caught.value.status_code == 400
    assert caught.value.jupyterhub_message == refused({"cpu": cpu})
    assert spawner.check_options({"cpu": "10m"})[0].cpu == 0.01


def test_it_refuses_memory_above_the_maximum():
    assert refused({"memory": "16G"}) == "memory 16G is above the maximum of 8G"


def test_it_refuses_memory_below_64m():
    assert refused({"memory": "32M"}) == "memory 32M is below the minimum of 64M"


def test_it_refuses_gpus_when_the_hub_allows_none():
    assert refused({"gpus": "0"}) == "GPUs are not allowed on this hub"


def test_it_refuses_a_gpu_count_above_the_maximum():
    assert refused({"gpus": 3}, GPU_LIMITS) == "gpus 3 is above the maximum of 2"
    assert resources_from_options({"gpus": 2}, GPU_LIMITS).to_options()["gpus"] == 2


def test_it_refuses_more_gpus_than_the_maximum():
    assert refused({"gpus": "0,1,2"}, GPU_LIMITS) == (
        "gpus 0,1,2 asks for 3 GPUs, above the maximum of 2"
    )


def test_it_refuses_all_gpus_unless_allowed():
    assert "'all' is not allowed" in refused({"gpus": "all"}, GPU_LIMITS)
    allowing = Limits(images=("i",), cpu_max=1, memory_max=G, gpus_max=1, allow_all_gpus=True)
    assert resources_from_options({"gpus": "all"}, allowing).gpus == "all"


def test_it_refuses_malformed_gpus_in_options():
    assert "not 'all' or device indices" in refused({"gpus": "first"}, GPU_LIMITS)


def test_it_refuses_shm_larger_than_memory():
    assert refused({"memory": "1G", "shm_size": "2G"}) == ("shm_size 2G is above the memory of 1G")


@pytest.mark.parametrize("key", ["1ABC", "MY-VAR", "", "A B", "É"])
def test_it_refuses_env_names_that_are_not_identifiers(key):
    assert "is not valid" in refused({"env": {key: "x"}})


@pytest.mark.parametrize("key", ["JUPYTERHUB_API_TOKEN", "JUPYTERHUB_API_URL", "jupyterhub_user"])
def test_it_refuses_env_names_reserved_for_the_hub(key):
    assert refused({"env": {key: "x"}}) == (
        f"env name {key!r} is reserved (set by the hub or the image); see docs/configuration.md"
    )


@pytest.mark.parametrize("value", [1, None, ["x"], True])
def test_it_refuses_env_values_that_are_not_strings(value):
    assert "must be a string" in refused({"env": {"A": value}})


SEE_DOCS = "see docs/configuration.md"
HUB_SET = "set by the hub or the image"
LOADS_CODE = "it changes which code the workspace loads"
IDENTITY = "it changes the workspace's user or rights"
JUPYTER = "it configures the Jupyter server"


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        # prefixes: the hub's, Jupyter's and MLHub's own
        ("JUPYTERHUB_SERVICE_PREFIX", HUB_SET),
        ("JPY_API_TOKEN", HUB_SET),
        ("JUPYTER_TOKEN", JUPYTER),
        ("JUPYTER_CONFIG_DIR", JUPYTER),
        ("JUPYTER_PORT", JUPYTER),
        ("JUPYTER_IMAGE_SPEC", JUPYTER),
        ("MLHUB_HUB_API_TOKEN", "MLHub's own settings"),
        # exact names set by the image, the hub's spawner or the process spawner
        ("PATH", HUB_SET),
        ("HOME", HUB_SET),
        ("SHELL", HUB_SET),
        ("LANG", HUB_SET),
        ("USER", HUB_SET),
        ("MEM_LIMIT", HUB_SET),
        ("CPU_LIMIT", HUB_SET),
        ("MEM_GUARANTEE", HUB_SET),
        ("CPU_GUARANTEE", HUB_SET),
        ("VIRTUAL_ENV", HUB_SET),
        # identity
        ("LOGNAME", IDENTITY),
        ("NB_UID", IDENTITY),
        ("GRANT_SUDO", IDENTITY),
        # code loading
        ("LD_PRELOAD", LOADS_CODE),
        ("LD_LIBRARY_PATH", LOADS_CODE),
        ("LD_AUDIT", LOADS_CODE),
        ("PYTHONPATH", LOADS_CODE),
        ("PYTHONHOME", LOADS_CODE),
        ("PYTHONSTARTUP", LOADS_CODE),
        ("BASH_ENV", LOADS_CODE),
        # whatever the case
        ("path", HUB_SET),
        ("Ld_Preload", LOADS_CODE),
        ("jpy_api_token", HUB_SET),
        ("mlhub_x", "MLHub's own settings"),
    ],
)
def test_it_refuses_reserved_env_names_whatever_their_case(key, reason):
    assert refused({"env": {key: "x"}}) == f"env name {key!r} is reserved ({reason}); {SEE_DOCS}"


@pytest.mark.parametrize(
    "key", ["PATHS", "MY_PATH", "HOMEDIR", "PYTHONSAFEPATH", "JUPYTERLAB", "NB_USERS", "ENV"]
)
def test_it_accepts_names_that_only_resemble_reserved_ones(key):
    assert resources_from_options({"env": {key: "x"}}, LIMITS).env == {key: "x"}


def test_it_refuses_a_name_with_a_trailing_newline():
    assert refused({"env": {"A\n": "x"}}) == (
        "env name 'A\\n' is not valid: use letters, digits and _"
    )


def test_it_accepts_an_env_name_of_the_maximum_length():
    key = "A" * ENV_NAME_MAX
    assert resources_from_options({"env": {key: "x"}}, LIMITS).env == {key: "x"}


def test_it_refuses_an_env_name_above_the_maximum_length():
    assert refused({"env": {"A" * (ENV_NAME_MAX + 1): "x"}}) == (
        f"env name {'A' * 20!r}... is 129 characters long, above the maximum of 128"
    )


def test_it_accepts_an_env_value_of_the_maximum_size():
    value = "x" * ENV_VALUE_MAX
    assert resources_from_options({"env": {"A": value}}, LIMITS).env == {"A": value}


@pytest.mark.parametrize(
    ("value", "size"),
    [("x" * (ENV_VALUE_MAX + 1), 32769), ("é" * (ENV_VALUE_MAX // 2 + 1), 32770)],
    ids=["ascii", "utf8-bytes-count"],
)
def test_it_refuses_an_env_value_above_the_maximum_size(value, size):
    assert refused({"env": {"BIG": value}}) == (
        f"env BIG is {size} bytes long, above the maximum of 32768 bytes"
    )


def test_it_accepts_the_maximum_number_of_env_variables():
    env = {f"V{i}": "x" for i in range(ENV_COUNT_MAX)}
    assert resources_from_options({"env": env}, LIMITS).env == env


def test_it_refuses_more_env_variables_than_the_maximum():
    env = {f"V{i}": "x" for i in range(ENV_COUNT_MAX + 1)}
    assert refused({"env": env}) == "env has 65 variables, above the maximum of 64"


def test_it_refuses_env_above_the_total_size():
    env = {f"V{i}": "x" * 30000 for i in range(5)}  # each value allowed, together too much
    assert ENV_TOTAL_MAX == 131072
    assert refused({"env": env}) == (
        "env is 150015 bytes in all (NAME=value), above the maximum of 131072 bytes"
    )


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("a\x00b", "U+0000"),
        ("\x00", "U+0000"),
        ("line\r\n", "U+000D"),
        ("\x1b[31mred", "U+001B"),
        ("bell\x07", "U+0007"),
        ("\x0b", "U+000B"),
        ("\x0c", "U+000C"),
        ("del\x7f", "U+007F"),
        ("c1\x85", "U+0085"),
        ("c1\x9f", "U+009F"),
    ],
)
def test_it_refuses_control_characters_in_env_values(value, code):
    assert refused({"env": {"SECRET": value}}) == (
        f"env SECRET contains the control character {code}; values may hold tab and newline "
        "but no other control characters"
    )


def test_refusals_never_quote_the_value():
    assert "hunter2" not in refused({"env": {"SECRET": "hunter2\x00"}})


def test_it_refuses_a_lone_surrogate_in_an_env_value():
    assert refused({"env": {"A": "x\ud800"}}) == (
        "env A is not valid text: it holds a lone UTF-16 surrogate"
    )


@pytest.mark.parametrize(
    "value",
    [
        "a\tb",
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0D\n-----END PUBLIC KEY-----\n",
        "",
        "ünïcödé ✓ 日本",
        "a=b; c='d' $HOME `x`",
    ],
)
def test_it_accepts_tab_newline_and_any_printable_text_in_env_values(value):
    assert resources_from_options({"env": {"A": value}}, LIMITS).env == {"A": value}


def test_the_docker_spawner_refuses_bad_env_with_the_same_400():
    # The hub side: a client calling the hub's REST API directly gets the same refusal, as an
    # HTTPError the hub relays, before any Docker call (none is made here: no engine needed).
    from tornado.web import HTTPError

    from spawners.docker import MLHubDockerSpawner

    spawner = MLHubDockerSpawner(
        workspace_images=["mlhub-workspace:latest"], cpu_max=2, memory_max="8G"
    )
    for env in ({"PATH": "/tmp"}, {"A": "x\x00"}, {"A" * 200: "x"}):
        with pytest.raises(HTTPError) as caught:
            spawner.check_options({"env": env})
        assert caught.value.status_code == 400
        assert caught.value.jupyterhub_message == refused({"env": env})
    assert spawner.check_options({"env": {"A": "a\tb\n"}})[0].env == {"A": "a\tb\n"}


def test_it_refuses_env_that_is_not_an_object():
    assert refused({"env": ["A=b"]}) == "env must be an object of NAME: value strings"


def test_it_refuses_options_that_are_not_an_object():
    assert refused(["cpu", 1]) == "options must be an object"


# ssh_keys: the owner's public keys for the workspace's own sshd, as the portal stores them.
ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGs1J9Yr1hJ8xZxqz1h3Jj6m0p4m4vX2l0c1o6c5Zk3R"
ECDSA = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBA=="
RSA = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7+/="
NOT_A_KEY = (
    'ssh_keys: key {} is not an OpenSSH public key "<type> <base64>" of type ssh-ed25519, '
    "ecdsa-sha2-nistp256/384/521 or ssh-rsa (without a comment)"
)


def ssh_keys_refused(value) -> str:
    with pytest.raises(ResourceError) as caught:
        parse_ssh_keys(value)
    return str(caught.value)


def test_it_reads_ssh_keys_of_every_accepted_type_in_order():
    assert parse_ssh_keys([ED25519, ECDSA, RSA]) == (ED25519, ECDSA, RSA)
    for curve in ("384", "521"):
        assert parse_ssh_keys([f"ecdsa-sha2-nistp{curve} AAAA"]) == (
            f"ecdsa-sha2-nistp{curve} AAAA",
        )


@pytest.mark.parametrize("value", [None, []])
def test_no_ssh_keys_is_none(value):
    assert parse_ssh_keys(value) == ()


@pytest.mark.parametrize("value", [ED25519, {"key": ED25519}, 1, ""])
def test_it_refuses_ssh_keys_that_are_not_a_list(value):
    assert ssh_keys_refused(value) == 'ssh_keys must be a list of public keys ("<type> <base64>")'


def test_it_refuses_more_ssh_keys_than_a_person_may_have():
    assert parse_ssh_keys([ED25519] * SSH_KEYS_MAX) == (ED25519,) * SSH_KEYS_MAX
    assert ssh_keys_refused([ED25519] * (SSH_KEYS_MAX + 1)) == (
        "ssh_keys has 21 keys, above the maximum of 20"
    )


@pytest.mark.parametrize(
    "key",
    [
        f"{ED25519} laptop",  # a comment: the portal sends keys without one
        f'command="rm -rf ~" {ED25519}',  # authorized_keys options would reach the sshd
        f"restrict {ED25519}",
        f"{ED25519}\n",  # a line end, and with it a second line
        f"{ED25519}\n{RSA}",
        "ssh-dss AAAAB3NzaC1kc3MAAACBAP",  # DSA: OpenSSH no longer accepts it
        "ssh-ed25519",
        "ssh-ed25519 ",
        "ssh-ed25519  AAAA",
        "ecdsa-sha2-nistp224 AAAA",
        "ssh-ed25519 AAAA!",
        "",
        None,
        ["ssh-ed25519", "AAAA"],
        "ssh-rsa " + "A" * SSH_KEY_LENGTH_MAX,  # far longer than OpenSSH's largest RSA key
    ],
)
def test_it_refuses_anything_but_a_bare_public_key(key):
    assert ssh_keys_refused([ED25519, key]) == NOT_A_KEY.format(2)


def test_ssh_key_refusals_never_quote_the_key():
    text = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
    assert "b3BlbnNzaC1rZXktdjEA" not in ssh_keys_refused([text])


def test_the_docker_spawner_refuses_bad_ssh_keys_with_a_400_and_passes_good_ones_as_env():
    from tornado.web import HTTPError

    from spawners.docker import MLHubDockerSpawner

    spawner = MLHubDockerSpawner(
        workspace_images=["mlhub-workspace:latest"], cpu_max=2, memory_max="8G"
    )
    with pytest.raises(HTTPError) as caught:
        spawner.check_options({"ssh_keys": [f"{ED25519} laptop"]})
    assert caught.value.status_code == 400
    assert caught.value.jupyterhub_message == NOT_A_KEY.format(1)

    spawner.user_options = {"ssh_keys": [ED25519, RSA]}
    spawner.options_apply()
    assert spawner.ssh_env() == {"MLHUB_SSH_AUTHORIZED_KEYS": f"{ED25519}\n{RSA}"}
    spawner.user_options = {}
    spawner.options_apply()  # a later start without keys: no sshd
    assert spawner.ssh_env() == {}


def test_the_docker_spawner_puts_the_keys_in_the_environment_over_the_users():
    from types import SimpleNamespace

    from spawners.docker import MLHubDockerSpawner

    spawner = MLHubDockerSpawner(
        workspace_images=["mlhub-workspace:latest"],
        cpu_max=2,
        memory_max="8G",
        user=SimpleNamespace(name="alice", id=1, url="/user/alice/", escaped_name="alice"),
        hub=SimpleNamespace(
            api_url="http://127.0.0.1:8081/hub/api",
            base_url="/hub/",
            url="http://127.0.0.1:8081/hub/",
            public_host="",
        ),
        orm_spawner=SimpleNamespace(name="ws1", server=None),
        hub_connect_url="http://hub:8081",
    )
    spawner.user_options = {"env": {"MY_VAR": "x"}, "ssh_keys": [ED25519]}
    spawner.options_apply()
    env = spawner.get_env()
    assert env["MLHUB_SSH_AUTHORIZED_KEYS"] == ED25519
    assert env["MY_VAR"] == "x"
    # Users cannot set it themselves: MLHUB_* is reserved in env.
    assert refused({"env": {"MLHUB_SSH_AUTHORIZED_KEYS": ED25519}}) == (
        "env name 'MLHUB_SSH_AUTHORIZED_KEYS' is reserved (MLHub's own settings); "
        "see docs/configuration.md"
    )
