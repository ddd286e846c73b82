"""Configuration: precedence, parsing, and errors that name the source and key."""

import json
import os

import pytest
import yaml

from vega_runtime.config import SUBMIT_CONF_ENV, Config
from vega_runtime.config_schema import SETTINGS, SETTINGS_BY_KEY
from vega_runtime.config_args import parse_conf_pair
from vega_runtime.config_values import parse_size
from vega_runtime.errors import ConfigError, MasterURLError
from vega_runtime.master_url import parse_master


def test_precedence_defaults_file_env_cli_job(tmp_path):
    """Each source overrides the ones below it, and the origin is reported."""
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    (conf_dir / "vega-defaults.yaml").write_text("vega.task.max_attempts: 5\nvega.app.name: a\n"
                                                 "vega.log.level: INFO\nvega.master: local\n")
    extra = tmp_path / "extra.yaml"
    extra.write_text("vega:\n  app:\n    name: b\n  log:\n    level: DEBUG\n")
    env = {"VEGA_LOG_LEVEL": "ERROR", "VEGA_MASTER": "local[3]",
           SUBMIT_CONF_ENV: json.dumps({"vega.master": "local[4]"})}
    conf = Config.load(config_file=str(extra), environ=env, conf_dir=str(conf_dir),
                       cli={"vega.default.parallelism": "7"}, overrides={"vega.master": "local[5]"})
    assert conf["vega.task.max_attempts"] == 5
    assert conf["vega.app.name"] == "b" and conf.origin("vega.app.name") == str(extra)
    assert conf["vega.log.level"] == "ERROR" and conf.origin("vega.log.level") == "environment"
    assert conf["vega.default.parallelism"] == 7
    assert conf["vega.master"] == "local[5]" and conf.origin("vega.master") == "job"
    assert conf["vega.shuffle.memory_bound"] == 256 << 20


def test_bad_values_name_the_source_and_key(tmp_path):
    """A malformed size or unknown key says where it came from."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("vega.shuffle.memory_bound: 12 parsecs\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: vega.shuffle.memory_bound .*not a size"):
        Config.load(config_file=str(bad), environ={})
    with pytest.raises(ConfigError, match="vega.nope is not a Vega setting"):
        Config.load(environ={}, overrides={"vega.nope": 1})
    with pytest.raises(ConfigError, match="not KEY=VALUE"):
        parse_conf_pair("novalue")
    with pytest.raises(ConfigError, match="whole number"):
        parse_conf_pair("vega.task.max_attempts=abc")


def test_sizes():
    """Sizes take k/m/g/t suffixes."""
    assert [parse_size(s) for s in ("10", "1k", "1.5m", "2G", "3gb")] == \
        [10, 1024, 1572864, 2 << 30, 3 << 30]


def test_defaults_file_documents_every_setting():
    """conf/vega-defaults.yaml lists every setting with its built-in default."""
    with open("conf/vega-defaults.yaml") as fh:
        documented = yaml.safe_load(fh)
    assert set(documented) == {s.key for s in SETTINGS}
    for s in SETTINGS:
        assert s.parse(documented[s.key]) == s.parse(s.default), s.key


@pytest.mark.parametrize("url,kind,cores,workers", [
    ("local", "inline", 1, 0), ("local[3]", "local", 3, 0),
    ("local-cluster[2,1]", "local-cluster", 1, 2), ("local-cluster[3, 2, 1g]", "local-cluster", 2, 3),
    ("vega://10.0.0.1:7077", "vega", 1, 0),
])
def test_master_urls(url, kind, cores, workers):
    """Every master kind parses."""
    spec = parse_master(url)
    assert (spec.kind, spec.cores, spec.workers) == (kind, cores, workers)


@pytest.mark.parametrize("url", ["bogus", "local[0]", "local[x]", "vega://host", "spark://a:1", ""])
def test_bad_master_urls_are_rejected_with_the_choices(url):
    """An unknown master URL lists the valid forms."""
    with pytest.raises(MasterURLError, match="local-cluster"):
        parse_master(url)


@pytest.mark.parametrize("url, asked, advice", [
    ("local[257]", 257, "use local[*] (this machine's 2 cores) or a number up to 256"),
    ("local[1000000, 3]", 1000000, "use local[*] (this machine's 2 cores) or a number up to 256"),
    ("local-cluster[100,3]", 300, "give local-cluster[W,C] W×C up to 256"),
])
def test_a_local_master_of_more_executors_than_a_machine_runs_is_refused(monkeypatch, url,
                                                                          asked, advice):
    """local[1000000] forked executor processes (at about 2 a second, each costlier than
    the last) until the machine had no more to give, its first job waiting: refused as it
    is parsed; local[*] always runs, however many cores there are."""
    from vega_runtime.errors import TooManyLocalExecutors

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    with pytest.raises(TooManyLocalExecutors) as refused:
        parse_master(url)
    assert str(refused.value) == (
        f"master {url!r} asks for {asked} executor processes, and a local master runs at "
        f"most 256 (a process per task slot, not a thread as in Spark): {advice}")
    assert parse_master("local[256]").cores == 256
    assert parse_master("local-cluster[16,16]").workers == 16
    monkeypatch.setattr(os, "cpu_count", lambda: 384)
    assert parse_master("local[*]").cores == 384


def test_defaults_file_regenerates_identically():
    """conf/vega-defaults.yaml is what scripts/write_defaults_yaml.py writes (regenerate it,
    don't edit it by hand)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("write_defaults_yaml",
                                                  "scripts/write_defaults_yaml.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with open("conf/vega-defaults.yaml") as fh:
        assert fh.read() == module.render()


def test_daemon_library_defaults_match_the_schema():
    """The defaults the daemons' classes keep for tests and embedding are the schema's."""
    from vega_runtime.deploy import drivers, http_api, worker_state
    from vega_runtime.deploy.master_state import (DEAD_WORKER_TIMEOUTS, FINISHED_APP_TTL,
                                                  MAX_EXECUTOR_FAILURES)
    from vega_runtime.net import connection, server

    defaults = {s.key: s.parse(s.default) for s in SETTINGS}
    assert defaults["vega.worker.heartbeat_interval"] == worker_state.HEARTBEAT_SECONDS
    assert defaults["vega.worker.reconnect.max_backoff"] == worker_state.MAX_RETRY_SECONDS
    assert defaults["vega.worker.registration_timeout"] == \
        worker_state.REGISTRATION_TIMEOUT_SECONDS
    assert defaults["vega.master.finished_app_ttl"] == FINISHED_APP_TTL
    assert defaults["vega.master.max_executor_failures"] == MAX_EXECUTOR_FAILURES
    assert defaults["vega.master.dead_worker_persistence"] == DEAD_WORKER_TIMEOUTS
    assert defaults["vega.master.supervise.max_restarts"] == drivers.MAX_RESTARTS
    assert defaults["vega.net.handshake_timeout"] == connection.HANDSHAKE_TIMEOUT
    assert defaults["vega.net.max_handshakes"] == server.MAX_HANDSHAKES
    assert defaults["vega.net.max_handshakes_per_address"] == server.MAX_HANDSHAKES_PER_ADDRESS
    assert defaults["vega.net.send_timeout"] == server.SEND_TIMEOUT
    assert defaults["vega.ui.max_connections"] == http_api.MAX_CONNECTIONS
    assert defaults["vega.ui.max_connections_per_address"] == \
        http_api.MAX_CONNECTIONS_PER_ADDRESS
    assert defaults["vega.ui.request_timeout"] == http_api.REQUEST_TIMEOUT
    assert defaults["vega.ui.response_timeout"] == http_api.RESPONSE_TIMEOUT


def test_nested_yaml_reaches_settings_under_a_leaf_key(tmp_path):
    """vega.master is a setting (the URL) and a prefix (vega.master.port): both nest."""
    config = tmp_path / "c.yaml"
    config.write_text("vega:\n  master:\n    port: 7000\n    ui:\n      port: 9000\n")
    conf = Config.load(config_file=str(config), environ={})
    assert (conf["vega.master.port"], conf["vega.master.ui.port"]) == (7000, 9000)


def test_generated_defaults_file_reads_as_yaml_does_without_pyyaml(tmp_path):
    """The generated conf/vega-defaults.yaml is recognized without a YAML parser (start-up
    time); what it yields is what PyYAML reads from it, and the origin is the file."""
    import subprocess
    import sys

    from vega_runtime.config import Config, _read_defaults_file, _read_yaml

    copy = tmp_path / "vega-defaults.yaml"
    copy.write_text(open("conf/vega-defaults.yaml").read())
    fast, parsed = _read_defaults_file(str(copy)), _read_yaml(str(copy))
    assert set(fast) == set(parsed) == {s.key for s in SETTINGS}
    for s in SETTINGS:
        assert repr(s.parse(fast[s.key])) == repr(s.parse(parsed[s.key])), s.key
    conf = Config.load(conf_dir=str(tmp_path), environ={})
    assert {conf.origin(s.key) for s in SETTINGS} == {str(copy)}
    code = ("import sys\nfrom vega_runtime.config import Config\n"
            "Config.load(conf_dir='conf', environ={})\nprint('yaml' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


def test_edited_defaults_file_is_parsed_as_yaml(tmp_path):
    """Changing one value (or adding YAML the generator does not write) is honoured."""
    from vega_runtime.config import Config

    text = open("conf/vega-defaults.yaml").read()
    (tmp_path / "vega-defaults.yaml").write_text(
        text.replace("vega.task.max_attempts: 4\n", "vega.task.max_attempts: 7\n"))
    assert Config.load(conf_dir=str(tmp_path), environ={})["vega.task.max_attempts"] == 7
    (tmp_path / "vega-defaults.yaml").write_text(text + "vega:\n  app:\n    name: nested\n")
    assert Config.load(conf_dir=str(tmp_path), environ={})["vega.app.name"] == "nested"


@pytest.mark.parametrize("key, value, problem", [
    ("vega.task.max_attempts", "0", "must be at least 1, not 0"),
    ("vega.task.max_attempts", "-3", "must be at least 1, not -3"),
    ("vega.stage.max_attempts", 0, "must be at least 1, not 0"),
    ("vega.cores.max", "-1", "must be at least 1, not -1 (leave it unset for no limit)"),
    ("vega.executor.cores", "-2", "must be at least 1, not -2 (leave it unset for no limit)"),
    ("vega.executor.cores", "0", "must be at least 1, not 0 (leave it unset for no limit)"),
    ("vega.default.parallelism", "-1", "must be at least 0, not -1"),
    ("vega.shuffle.batch_records", "0", "must be at least 1, not 0"),
    ("vega.master.port", "65536", "must be between 0 and 65535, not 65536"),
    ("vega.driver.metrics.port", "-1", "must be between 0 and 65535, not -1"),
    ("vega.worker.cores", "-1", "must be at least 0, not -1"),
    ("vega.net.max_handshakes", "0", "must be at least 1, not 0"),
    ("vega.executor.memory", "-5g", "must be at least 1m, not -5g"),
    ("vega.storage.memory", -1, "must be at least 0, not -1"),
    ("vega.driver.max_result_size", "-1m", "must be at least 0, not -1m"),
    ("vega.hdfs.timeout", "-1", "must be at least 0, not -1"),
])
def test_values_out_of_range_name_the_setting_the_value_and_the_range(key, value, problem):
    """A count, port, size or time outside its range is a ConfigError, from every source."""
    with pytest.raises(ConfigError) as raised:
        parse_conf_pair(f"{key}={value}")
    assert str(raised.value) == f"--conf: {key} {problem}"
    with pytest.raises(ConfigError) as raised:
        Config.load(environ={}, overrides={key: value})
    assert str(raised.value) == f"job: {key} {problem}"


@pytest.mark.parametrize("key, value", [
    ("vega.default.parallelism", "0"), ("vega.cores.max", ""), ("vega.executor.cores", ""),
    ("vega.master.port", "0"), ("vega.master.port", "65535"), ("vega.worker.cores", "0"),
    ("vega.driver.max_result_size", "0"), ("vega.driver.max_result_size", "4g"),
    ("vega.storage.memory", "0"), ("vega.task.max_attempts", "1"),
])
def test_documented_special_values_and_bounds_are_accepted(key, value):
    """0 keeps its documented meaning (all parallelism, all cores, any free port...); the
    application's core limits are none when empty."""
    assert parse_conf_pair(f"{key}={value}") == (key, value)


def test_every_number_setting_has_a_range():
    """No whole number, size or time is read without a range check (speculation's factors
    are checked when speculation is on, with their open bounds: test_allocation_decisions)."""
    from vega_runtime.config_values import parse_float, parse_int

    unbounded = [s.key for s in SETTINGS if s.parse in (parse_int, parse_float, parse_size)]
    assert unbounded == ["vega.speculation.multiplier", "vega.speculation.quantile"]
    assert SETTINGS_BY_KEY["vega.task.max_attempts"].parse.range == "at least 1"
    assert SETTINGS_BY_KEY["vega.master.port"].parse.range == "between 0 and 65535"


def test_a_bad_value_names_the_environment_variable_or_daemon_flag_it_came_from():
    """The source of a bad value is what the user typed: VEGA_..., vega master --port."""
    with pytest.raises(ConfigError) as raised:
        Config.load(environ={"VEGA_TASK_MAX_ATTEMPTS": "0"})
    assert str(raised.value) == \
        "VEGA_TASK_MAX_ATTEMPTS: vega.task.max_attempts must be at least 1, not 0"
    with pytest.raises(ConfigError) as raised:
        Config.load(environ={}, cli={"vega.master.port": 70000})
    assert str(raised.value) == \
        "vega master --port: vega.master.port must be between 0 and 65535, not 70000"


def test_max_result_size_defaults_to_the_frame_limit():
    """vega.driver.max_result_size defaults to 1g, the frame limit (one task's result is
    held to it whatever the setting: scheduler/executor.py's doctests)."""
    from vega_runtime.config_limits import FRAME_LIMIT
    from vega_runtime.net.framing import DEFAULT_MAX_FRAME

    assert FRAME_LIMIT == DEFAULT_MAX_FRAME == 1 << 30
    assert Config.load(environ={})["vega.driver.max_result_size"] == FRAME_LIMIT


def test_spark_names_of_settings_are_taken_from_every_source(tmp_path, caplog):
    """spark-submit's --conf, a settings file and a Context's conf take Spark's names of
    Vega's settings (spark.task.maxFailures is vega.task.max_attempts, durations as Spark
    writes them); one Vega has no use for is left out with one warning naming it and
    where it came from.  Before, each was 'not a Vega setting' (a usage error)."""
    assert parse_conf_pair("spark.task.maxFailures=7") == ("vega.task.max_attempts", "7")
    assert parse_conf_pair("spark.locality.wait=500ms") == ("vega.locality.wait", "0.5")
    assert parse_conf_pair("spark.ui.port=4050") == ("spark.ui.port", "4050")  # warned when applied
    with pytest.raises(ConfigError) as raised:
        parse_conf_pair("spark.locality.wait=soon")
    assert str(raised.value) == ("--conf: spark.locality.wait 'soon' is not a Spark duration "
                                 "(e.g. 3s, 500ms, 2min)")
    settings = tmp_path / "site.yaml"
    settings.write_text("spark:\n  executor:\n    memory: 2g\n")
    env = {SUBMIT_CONF_ENV: json.dumps({"spark.ui.port": "4050", "spark.cores.max": "3"})}
    with caplog.at_level("WARNING", logger="vega_runtime.config"):
        conf = Config.load(config_file=str(settings), environ=env,
                           overrides={"spark.speculation": "true", "spark.eventLog.enabled": "false"})
    assert conf["vega.executor.memory"] == 2 << 30 and conf.origin("vega.executor.memory") == str(settings)
    assert conf["vega.cores.max"] == 3 and conf.origin("vega.cores.max") == "command line"
    assert conf["vega.speculation"] is True and conf["vega.eventlog.dir"] == ""
    assert "spark.ui.port" not in conf
    assert [r.getMessage() for r in caplog.records] == [
        "Vega has no use for these Spark settings and ignores them: spark.ui.port (command line)"]


def test_a_misspelt_setting_names_the_setting_meant_from_every_source():
    """A Context's conf (not only the command line) says which setting a typo meant."""
    with pytest.raises(ConfigError) as raised:
        Config.load(environ={}, overrides={"vega.task.max_failures": 3})
    assert str(raised.value) == ("job: vega.task.max_failures is not a Vega setting (did you "
                                 "mean vega.task.max_attempts?); see conf/vega-defaults.yaml "
                                 "for the list of settings")


def test_an_empty_application_name_is_refused_from_every_source():
    """An application without a name (Spark: 'An application name must be set in your
    configuration'): before, '' was taken, and the status, the UI and the progress lines
    showed a blank."""
    for name in ("", "  "):
        with pytest.raises(ConfigError) as raised:
            Config.load(environ={}, overrides={"vega.app.name": name})
        assert str(raised.value) == "job: vega.app.name must not be empty: give the application a name"
