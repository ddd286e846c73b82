"""``--conf KEY=VALUE`` arguments (``vega submit``, ``vega master``, ...): checked against the
schema, Spark's names of settings translated (``config.translate_spark_names``)."""

from __future__ import annotations

from typing import Iterable

from .config import translate_spark_names
from .config_schema import not_a_setting, setting_of
from .errors import ConfigError


def parse_conf_pair(text: str) -> tuple[str, str]:
    """Split a ``--conf KEY=VALUE`` argument, checking the key exists."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError("--conf", repr(text), "is not KEY=VALUE (e.g. --conf vega.task.max_attempts=2)")
    named = key
    if key.startswith("spark."):  # Spark's name of a setting, as spark-submit takes it
        translated = translate_spark_names({key: value}, "--conf", warn=False)
        if not translated:  # one Vega has no use for (``parse_conf_pairs`` leaves it out)
            return key, value
        [(key, value)] = [(k, str(v)) for k, v in translated.items()]
        named = f"{named} ({key})"  # an error names what the user wrote
    setting = setting_of(key)
    if setting is None:
        raise ConfigError("--conf", key, not_a_setting(key) + "; see conf/vega-defaults.yaml")
    try:
        setting.parse(value)
    except ValueError as exc:
        raise ConfigError("--conf", named, str(exc)) from None
    return key, value


def parse_conf_pairs(texts: Iterable[str]) -> dict[str, str]:
    """The settings of ``--conf KEY=VALUE`` arguments (``parse_conf_pair``), without the
    Spark settings Vega has no use for: one warning names those."""
    from .spark_settings import IGNORED_WARNING, ignored_names, is_used

    pairs = [parse_conf_pair(text) for text in texts]
    # (spark.eventLog.enabled=true is used: it sets nothing, event logs being on already)
    ignored = sorted({key for key, _ in pairs if key.startswith("spark.") and not is_used(key)})
    if ignored:
        import logging

        # the loader's logger, as for the settings of files and the environment
        logging.getLogger("vega_runtime.config").warning(IGNORED_WARNING + " (--conf)",
                                                         ignored_names(ignored))
    return {key: value for key, value in pairs if not key.startswith("spark.")}

