"""A release's values against its chart's values.schema.json, checked before helm runs.

helm validates the values it renders with against the chart's schema, after merging them over the
chart's own values.yaml (a null in the release's values deletes the chart's default). This does
the same in Python, so a value the chart refuses is an input error (exit 2) naming the release and
the value's path in cluster.yaml, found by `validate`, `plan` and `up` before any host is touched.
Subcharts' schemas are left to helm (render reports them as input errors too).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from jsonschema import Draft7Validator, validators
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from referencing.exceptions import Unresolvable

from k8s_install.addons.chart_files import ChartFiles
from k8s_install.base.errors import Problem, shown
from k8s_install.model.addon_releases import Release

FIX = (
    "give a value the chart accepts (its values.schema.json says which), or remove it to keep "
    "the chart's default"
)


def coalesce(defaults: Any, overrides: Any) -> Any:
    """The values helm validates: overrides merged over the chart's values.yaml."""
    if not isinstance(defaults, dict) or not isinstance(overrides, dict):
        return copy.deepcopy(overrides)
    result = copy.deepcopy(defaults)
    for key, value in overrides.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = coalesce(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _path(base: str, parts: Iterable[Any]) -> str:
    text = base
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _where(error: ValidationError, base: str) -> str:
    parts = list(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(error.validator_value, list):
        missing = [
            k for k in error.validator_value if isinstance(instance, dict) and k not in instance
        ]
        if missing:
            parts.append(missing[0])
    elif error.validator == "additionalProperties" and isinstance(instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        known = set(schema.get("properties", {}))
        extra = sorted(str(k) for k in instance if k not in known)
        if extra:
            parts.append(extra[0])
    return _path(base, parts)


def problems(release: Release, values: dict[str, Any], chart: ChartFiles) -> list[Problem]:
    """The values the chart's schema refuses, each with its path under the release's values."""
    if chart.schema is None:
        return []
    merged = coalesce(chart.values, values)
    cls = validators.validator_for(chart.schema, default=Draft7Validator)
    found: list[Problem] = []
    base = f"{release.path}.values"
    try:
        errors = sorted(cls(chart.schema).iter_errors(merged), key=lambda e: list(map(str, e.path)))
        for error in errors:
            detail = best_match(error.context) if error.context else error
            message = detail.message if len(detail.message) <= 300 else error.message
            found.append(
                Problem(
                    _where(detail, base),
                    f"release '{release.name}': chart {chart.label} refuses this value: "
                    f"{shown(message)}",
                    FIX,
                )
            )
    except (SchemaError, Unresolvable) as exc:
        found.append(
            Problem(
                base,
                f"release '{release.name}': the values.schema.json of chart {chart.label} "
                f"cannot be used ({type(exc).__name__})",
                "helm will check the values when it renders; report the chart's schema upstream",
                severity="warning",
            )
        )
    return found
