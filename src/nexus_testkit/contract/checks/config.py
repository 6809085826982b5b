"""Checks of how the plugin treats its configuration."""

from __future__ import annotations

import json
import logging

from .._checks import Verdict, check, failed, passed, warned
from .._evidence import Evidence
from .._probes import CONTRACT_SOURCE, DISTINCTIVE_LENGTH
from ._util import RECORDED, TIMEOUT_FIX, bullets, timed_out


def _why_valid(ev: Evidence, config: dict[str, object]) -> str:
    """Which manifest rule makes a drawn configuration valid, for the message."""
    manifest = ev.manifest
    notes = []
    for key, value in config.items():
        option = manifest.configuration.get(key)
        if option is None or value == ev.valid_config.get(key):
            continue
        rules = []
        for name in ("minimum", "maximum", "min_length", "max_length", "pattern", "enum"):
            rule = getattr(option, name, None)
            if rule not in (None, (), []):
                rules.append(f"{name}={rule!r}")
        kind = getattr(option, "type", None)
        rule_text = ", ".join(rules) if rules else f"only type {kind or 'any'}"
        notes.append(f"{key}={value!r} is allowed by {rule_text}")
    return "; ".join(notes)


@check(
    "config.valid",
    severity="error",
    description="""initialize() accepts valid configurations drawn from the manifest's rules
    (defaults, bounds, enum members, realistic formats; --nexus-examples of them).""",
    fix="""Accept every value the manifest allows, or declare the rule the plugin enforces
    (min/max, enum, pattern, min_length) in the manifest.""",
    needs={"config_valid"},
)
def valid(ev: Evidence) -> Verdict | None:
    if not ev.manifest.configuration:
        return passed("the manifest declares no configuration")
    problems = []
    for config, problem in ev.valid_configs:
        if problem:
            why = _why_valid(ev, config)
            problems.append(f"{config!r}: {problem}" + (f" ({why})" if why else ""))
    if problems:
        flat = ev.manifest.config_dialect == "config"
        note = (
            "the flat `config` section states no rules, so only type-preserving variations of "
            "the defaults were drawn, every key kept; declare the rules the plugin enforces "
            "with a `configuration` section"
            if flat
            else "the platform passes no defaults and no other check: what the manifest allows "
            "reaches initialize()"
        )
        return failed(
            "valid configurations (by the manifest's rules) the plugin refused:\n"
            + bullets(problems)
            + f"\n({note})",
            TIMEOUT_FIX if all(timed_out(p) for _, p in ev.valid_configs if p) else None,
        )
    return passed(f"{len(ev.valid_configs)} configuration(s) accepted")


def _refusals(cases: list[tuple[str, str | None]]) -> Verdict | None:
    if not cases:
        return passed("no rule to break: the manifest declares none")
    problems = [f"{case}: {problem}" for case, problem in cases if problem]
    if problems:
        hung = all("hung instead of refusing" in p for p in problems)
        return failed(
            "configurations the plugin must refuse:\n" + bullets(problems),
            TIMEOUT_FIX if hung else None,
        )
    return passed(f"{len(cases)} configuration(s) refused")


@check(
    "config.required",
    severity="error",
    description="""A configuration missing a required key is refused (validate_config() returns
    False, or initialize() returns False or raises) and the refused start leaks no task.""",
    fix="Validate required keys at the start of initialize() and return False.",
    needs={"config_required"},
)
def required(ev: Evidence) -> Verdict | None:
    return _refusals(ev.required_cases)


@check(
    "config.invalid",
    severity="error",
    description="""Values outside the declared type, enum, bounds or pattern are refused (each rule
    once, then drawn invalid configurations).""",
    fix="Validate each configured value against the manifest's rules in initialize().",
    needs={"config_invalid"},
)
def invalid(ev: Evidence) -> Verdict | None:
    return _refusals(ev.invalid_cases)


def _record_text(record: logging.LogRecord) -> str:
    try:
        text = record.getMessage()
    except Exception:
        text = str(record.msg)
    if record.exc_info and record.exc_info[1] is not None:
        text += f" {record.exc_info[1]!r}"
    return text


@check(
    "config.secrets",
    severity="error",
    description="""Values of secret keys never appear in log records (any level), published events
    or HTTP responses.""",
    fix="Never log, publish or return secret values; log their presence, not their content.",
    needs={"manifest", "start"},
    uses=RECORDED | {"config_invalid", "config_required"},
)
def secrets(ev: Evidence) -> Verdict | None:
    untestable = ""
    if ev.untestable_secrets:
        untestable = (
            f"no distinctive value fits the rules of the secret key(s) "
            f"{', '.join(ev.untestable_secrets)} (an enum, a boolean or bounds too narrow for "
            f"{DISTINCTIVE_LENGTH} characters): their leaks could not be looked for"
        )
    if not ev.secret_values:
        if untestable:
            return warned(untestable)
        return passed("the manifest declares no secret keys")
    masker = ev.masker
    leaks = []
    for record in ev.log_records:
        text = _record_text(record)
        if masker.contains_secret(text):
            leaks.append(
                f"log record {record.levelname} {record.name}: {masker(text)[:300]}"
                f" at {record.pathname}:{record.lineno}"
            )
    for event in ev.published(CONTRACT_SOURCE):
        text = json.dumps(event.data, default=str)
        if masker.contains_secret(text):
            leaks.append(f"event {event.name}: {masker(text)[:300]}")
    for what, text in ev.responses:
        if masker.contains_secret(text):
            leaks.append(f"response to {what}: {masker(text)[:300]}")
    # print, stderr, warnings.warn and loggers that do not propagate (contract/_leaks.py).
    leaks += ev.leaks
    if leaks:
        keys = ", ".join(ev.secret_values)
        message = f"values of secret keys ({keys}) appeared in:\n" + bullets(leaks)
        return failed(message + (f"\n{untestable}" if untestable else ""))
    if untestable:
        return warned(untestable)
    return None
