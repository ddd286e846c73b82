"""Configuration: precedence, parsing, and errors that name the source and key."""

import json

import pytest
import yaml

from vega_runtime.config import SETTINGS, SUBMIT_CONF_ENV, Config, parse_conf_pair, parse_size
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
