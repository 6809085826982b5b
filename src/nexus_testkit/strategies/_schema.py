"""JSON Schema to Hypothesis strategy, by construction.

We build each value from the keywords instead of generating anything and
filtering on a validator: bounds become ``st.integers(min_value=...)``,
``required`` becomes the mandatory part of ``st.fixed_dictionaries``, and so
on.  Only two spots filter: a string that must match a ``pattern`` *and* have
a length in bounds (``st.from_regex`` knows no length), and ``uniqueItems``.
An impossible combination is detected while compiling, so the caller can
raise ``InvalidArgument`` at once instead of a health-check failure later.

Supported keywords are listed in :data:`SUPPORTED`; the applicators and
assertions in :data:`UNSUPPORTED` raise ``InvalidArgument`` naming the
keyword; any other keyword is an annotation and is ignored, as JSON Schema
itself ignores unknown keywords.  ``$ref``, ``anyOf`` and one-element
``allOf`` are accepted for OpenAPI documents (``refs=True``, ``any_of=True``).
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from ..manifest._load import json_type
from ._regex import simple_pattern_strings
from ._values import json_key, json_values, mix, realistic, samples

__all__ = [
    "JSON_TYPES",
    "SUPPORTED",
    "UNSUPPORTED",
    "Compiler",
    "Empty",
    "json_types",
    "regex_lengths",
]

JSON_TYPES: Final = ("null", "boolean", "integer", "number", "string", "array", "object")

SUPPORTED: Final = (
    "type",
    "enum",
    "const",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "items",
    "minItems",
    "maxItems",
    "uniqueItems",
    "properties",
    "required",
    "additionalProperties",
)

UNSUPPORTED: Final = frozenset(
    {
        "$ref",
        "$dynamicRef",
        "$recursiveRef",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "if",
        "then",
        "else",
        "dependentSchemas",
        "dependentRequired",
        "dependencies",
        "patternProperties",
        "propertyNames",
        "unevaluatedProperties",
        "unevaluatedItems",
        "prefixItems",
        "additionalItems",
        "contains",
        "minContains",
        "maxContains",
        "multipleOf",
        "minProperties",
        "maxProperties",
        "contentSchema",
    }
)

#: Keywords that only describe ($ref siblings, anyOf siblings): ignoring them keeps the meaning.
_ANNOTATIONS: Final = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "$comment",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$schema",
        "$id",
        "$defs",
        "definitions",
        "discriminator",
    }
)

#: Private marker: a "number" that must not be integral (a wrong type for an integer).
NON_INTEGRAL: Final = "x-nexus-non-integral"

#: Cap on generated collection sizes when the schema sets none, to keep draws fast.
_EXTRA_ITEMS: Final = 5


class Empty(Exception):
    """No JSON value satisfies the schema at ``where``; found while compiling."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


def regex_lengths(pattern: str) -> tuple[int, int | None]:
    """Bounds on ``len(s)`` for the strings ``s`` that ``re.search(pattern, s)`` accepts.

    The upper bound is only known for a pattern anchored at both ends (``^...$``,
    ``$`` allowing one trailing newline); otherwise it is ``None``.  Uses the
    standard library's own regex parser; any surprise gives ``(0, None)``, the
    bounds that exclude nothing.
    """
    try:
        parser = importlib.import_module("re._parser")
        constants = importlib.import_module("re._constants")
        tree = parser.parse(pattern)
        low, high = tree.getwidth()
        items = list(tree)
        start = (
            (constants.AT, constants.AT_BEGINNING),
            (constants.AT, constants.AT_BEGINNING_STRING),
        )
        end_string = (constants.AT, constants.AT_END_STRING)
        end_line = (constants.AT, constants.AT_END)
        anchored = (
            bool(items)
            and items[0] in start
            and items[-1] in (end_string, end_line)
            and not tree.state.flags & re.MULTILINE
        )
        if not anchored or high >= 2**31:
            return int(low), None
        return int(low), int(high) + (1 if items[-1] == end_line else 0)
    except Exception:  # pragma: no cover - the parser is private; never let it break a strategy
        return 0, None


def json_types(value: Any) -> str:
    """The JSON type name of a Python value parsed from JSON."""
    name = json_type(value)
    return name if name in _JSON_NAMES else "object"


_JSON_NAMES = frozenset({"null", "boolean", "integer", "number", "string", "array", "object"})


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class Compiler:
    """Compiles JSON Schemas into strategies; errors name ``context`` and the keyword path.

    ``root`` is the document ``$ref`` pointers are resolved in (``refs=True``).
    ``accept`` is an extra test for values the schema *lists* (``enum``,
    ``const``, extra boundaries): the strategies for configurations also apply
    the harness's ``check_value`` there.  ``who`` names the public function in
    messages about unsupported keywords.
    """

    def __init__(
        self,
        context: str,
        who: str,
        *,
        root: Mapping[str, Any] | None = None,
        refs: bool = False,
        any_of: bool = False,
        accept: Callable[[Any], bool] | None = None,
    ) -> None:
        self.context = context
        self.who = who
        self.root = root
        self.refs = refs
        self.any_of = any_of
        self.accept = accept
        self._ref_strategies: dict[str, st.SearchStrategy[Any]] = {}
        self._compiled_refs: dict[str, st.SearchStrategy[Any]] = {}

    # ------------------------------------------------------------------ errors

    def invalid(self, where: str, problem: str) -> InvalidArgument:
        return InvalidArgument(f"{self.context}: {where} {problem}")

    def unsupported(self, where: str, keyword: str) -> InvalidArgument:
        supported = ", ".join(SUPPORTED)
        extra = []
        if self.refs:
            extra.append("$ref to #/...")
        if self.any_of:
            extra.append("anyOf, allOf with one schema")
        also = f" ({'; '.join(extra)})" if extra else ""
        return self.invalid(
            where,
            f"uses {keyword!r}, which {self.who} does not support; "
            f"supported keywords: {supported}{also}; see docs/property-testing.md",
        )

    # ------------------------------------------------------------------ validation helpers

    def validator(self, schema: Mapping[str, Any] | bool) -> Any:
        """A Draft 2020-12 validator of ``schema``, ``$ref`` pointers resolved in ``root``."""
        # importlib: jsonschema ships no type information, and the validator is used untyped.
        validator_class = importlib.import_module("jsonschema").Draft202012Validator
        if isinstance(schema, Mapping) and self.root is not None:
            context = {
                k: self.root[k] for k in ("components", "$defs", "definitions") if k in self.root
            }
            schema = {**context, **schema}
        return validator_class(schema)

    def listed_ok(self, schema: Mapping[str, Any], values: Sequence[Any]) -> list[Any]:
        """The members of ``values`` valid under ``schema`` and ``accept``."""
        validator = self.validator(schema)
        return [
            v for v in values if validator.is_valid(v) and (self.accept is None or self.accept(v))
        ]

    def resolve(self, schema: Any, where: str) -> tuple[Any, str]:
        """Follow ``$ref`` (with annotation siblings only) to the schema it names."""
        seen: set[str] = set()
        while isinstance(schema, Mapping) and "$ref" in schema and self.refs:
            ref = schema["$ref"]
            if ref in seen:
                raise self.invalid(where, f"is a $ref cycle through {ref!r}")
            seen.add(ref)
            schema, where = self._target(ref, where), ref
        return schema, where

    def _target(self, ref: Any, where: str) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#/") or self.root is None:
            raise self.invalid(
                where, f"has $ref={ref!r}; only local pointers like #/components/... are supported"
            )
        node: Any = self.root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or part not in node:
                raise self.invalid(where, f"has $ref={ref!r}, which points at nothing")
            node = node[part]
        return node

    def types_of(self, schema: Any, where: str = "#") -> frozenset[str] | None:
        """The JSON types ``schema`` allows (``None``: any); ``$ref`` and anyOf are followed."""
        schema, where = self.resolve(schema, where)
        if schema is False:
            return frozenset()
        if not isinstance(schema, Mapping):
            return None
        if self.any_of and isinstance(schema.get("anyOf"), list):
            found: set[str] = set()
            for i, branch in enumerate(schema["anyOf"]):
                types = self.types_of(branch, f"{where}.anyOf[{i}]")
                if types is None:
                    return None
                found |= types
            return frozenset(found)
        if self.any_of and isinstance(schema.get("allOf"), list) and len(schema["allOf"]) == 1:
            return self.types_of(schema["allOf"][0], f"{where}.allOf[0]")
        if "const" in schema:
            return frozenset({json_types(schema["const"])})
        if isinstance(schema.get("enum"), list):
            return frozenset(json_types(v) for v in schema["enum"])
        names = self._type_names(schema, where)
        if names is None:
            return None
        return frozenset(names) | ({"integer"} if "number" in names else set())

    # ------------------------------------------------------------------ compiling

    def compile(
        self, schema: Any, where: str, boundaries: Sequence[Any] = ()
    ) -> st.SearchStrategy[Any]:
        """A strategy for values valid under ``schema``; raises :class:`Empty` when there are none.

        ``boundaries`` are extra values (already known to be valid) drawn half of
        the time together with the schema's own boundary values.
        """
        general, own = self._compile(schema, where)
        return mix([*boundaries, *own], general)

    def _compile(self, schema: Any, where: str) -> tuple[st.SearchStrategy[Any], list[Any]]:
        if schema is True:
            return json_values(), []
        if schema is False:
            raise Empty(where, "is the schema false, which no value satisfies")
        if not isinstance(schema, Mapping):
            raise self.invalid(where, f"must be a JSON Schema object, got {type(schema).__name__}")
        self._check_keywords(schema, where)
        if "$ref" in schema:
            self._only_annotations(schema, "$ref", where)
            return self._ref(schema["$ref"], where), []
        if "anyOf" in schema:
            self._only_annotations(schema, "anyOf", where)
            return self._any_of(schema["anyOf"], where), []
        if "allOf" in schema:
            self._only_annotations(schema, "allOf", where)
            return self._compile(schema["allOf"][0], f"{where}.allOf[0]")
        names = self._type_names(schema, where)
        if "const" in schema or "enum" in schema:
            return self._listed(schema, where), []
        parts: list[st.SearchStrategy[Any]] = []
        boundaries: list[Any] = []
        failures: list[tuple[str, Empty]] = []
        for name in names if names is not None else JSON_TYPES:
            try:
                general, own = _BUILDERS[name](self, schema, where)
            except Empty as exc:
                failures.append((name, exc))
                continue
            parts.append(general)
            boundaries.extend(own)
        if not parts:
            if len(failures) == 1:
                raise failures[0][1]  # the innermost place, e.g. properties.n
            reasons = "; ".join(f"as {name}, {exc.where}: {exc.problem}" for name, exc in failures)
            raise Empty(where, reasons or "allows no type")
        return st.one_of(parts), boundaries

    def _check_keywords(self, schema: Mapping[str, Any], where: str) -> None:
        allowed = set()
        if self.refs:
            allowed.add("$ref")
        if self.any_of:
            allowed.update({"anyOf", "allOf"})
        for keyword in schema:
            if keyword in UNSUPPORTED and keyword not in allowed:
                raise self.unsupported(where, keyword)
        if "allOf" in schema and (
            not isinstance(schema["allOf"], list) or len(schema["allOf"]) != 1
        ):
            raise self.invalid(
                where,
                "uses 'allOf' with several schemas, which is not supported "
                "(only allOf: [one schema] is)",
            )
        if "items" in schema and isinstance(schema["items"], list):
            raise self.invalid(
                where, "uses 'items' as an array (tuple validation), which is not supported"
            )

    def _only_annotations(self, schema: Mapping[str, Any], keyword: str, where: str) -> None:
        others = [
            k for k in schema if k != keyword and k not in _ANNOTATIONS and not k.startswith("x-")
        ]
        if others:
            raise self.invalid(
                where,
                f"combines {keyword!r} with {', '.join(map(repr, others))}, which is not supported",
            )

    def _ref(self, ref: Any, where: str) -> st.SearchStrategy[Any]:
        key = str(ref)
        if key not in self._ref_strategies:
            # deferred: a model that refers to itself (a tree) compiles without recursing forever.
            self._ref_strategies[key] = st.deferred(lambda: self._compiled_refs[key])
            try:
                self._compiled_refs[key] = self.compile(self._target(ref, where), key)
            except BaseException:
                del self._ref_strategies[key]
                raise
        return self._ref_strategies[key]

    def _any_of(self, branches: Any, where: str) -> st.SearchStrategy[Any]:
        if not isinstance(branches, list) or not branches:
            raise self.invalid(f"{where}.anyOf", "must be a non-empty array of schemas")
        parts = []
        for i, branch in enumerate(branches):
            try:
                parts.append(self.compile(branch, f"{where}.anyOf[{i}]"))
            except Empty:
                continue
        if not parts:
            raise Empty(where, "no branch of anyOf has a value")
        return st.one_of(parts)

    def _listed(self, schema: Mapping[str, Any], where: str) -> st.SearchStrategy[Any]:
        if "const" in schema:
            members = [schema["const"]]
        else:
            members = schema["enum"]
            if not isinstance(members, list):
                raise self.invalid(
                    f"{where}.enum", f"must be an array, got {type(members).__name__}"
                )
        valid = self.listed_ok(schema, members)
        if not valid:
            raise Empty(where, f"no member of {members!r} satisfies the other keywords")
        return samples(valid)

    def _type_names(self, schema: Mapping[str, Any], where: str) -> list[str] | None:
        if "type" not in schema:
            return None
        value = schema["type"]
        names = value if isinstance(value, list) else [value]
        for name in names:
            if name not in JSON_TYPES:
                raise self.invalid(
                    f"{where}.type",
                    f"has unknown type {name!r}; expected one of {', '.join(JSON_TYPES)}",
                )
        return list(dict.fromkeys(names))

    # ------------------------------------------------------------------ keyword values

    def number(self, schema: Mapping[str, Any], keyword: str, where: str) -> float | None:
        value = schema.get(keyword)
        if value is None:
            return None
        if not _is_number(value):
            raise self.invalid(f"{where}.{keyword}", f"must be a finite number, got {value!r}")
        return value  # type: ignore[no-any-return]

    def count(self, schema: Mapping[str, Any], keyword: str, where: str) -> int | None:
        value = schema.get(keyword)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.invalid(f"{where}.{keyword}", f"must be a whole number >= 0, got {value!r}")
        return value

    def bounds(
        self, schema: Mapping[str, Any], where: str
    ) -> tuple[float | None, bool, float | None, bool]:
        """(low, low exclusive?, high, high exclusive?): the tighter of each pair of keywords."""
        low, low_ex = self.number(schema, "minimum", where), False
        ex_low = self.number(schema, "exclusiveMinimum", where)
        if ex_low is not None and (low is None or ex_low >= low):
            low, low_ex = ex_low, True
        high, high_ex = self.number(schema, "maximum", where), False
        ex_high = self.number(schema, "exclusiveMaximum", where)
        if ex_high is not None and (high is None or ex_high <= high):
            high, high_ex = ex_high, True
        return low, low_ex, high, high_ex


# ---------------------------------------------------------------------------- per-type builders

Built = tuple[st.SearchStrategy[Any], list[Any]]


def _null(c: Compiler, schema: Mapping[str, Any], where: str) -> Built:
    return st.none(), []


def _boolean(c: Compiler, schema: Mapping[str, Any], where: str) -> Built:
    return st.booleans(), []


def _integer_range(
    low: float | None, low_ex: bool, high: float | None, high_ex: bool
) -> tuple[int | None, int | None]:
    lo = None if low is None else (math.floor(low) + 1 if low_ex else math.ceil(low))
    hi = None if high is None else (math.ceil(high) - 1 if high_ex else math.floor(high))
    return lo, hi


def _integer(c: Compiler, schema: Mapping[str, Any], where: str) -> Built:
    lo, hi = _integer_range(*c.bounds(schema, where))
    if lo is not None and hi is not None and lo > hi:
        raise Empty(where, "no integer lies between its bounds")
    boundaries = [b for b in (lo, hi) if b is not None]
    return st.integers(min_value=lo, max_value=hi), boundaries


def _number(c: Compiler, schema: Mapping[str, Any], where: str) -> Built:
    low, low_ex, high, high_ex = c.bounds(schema, where)
    if (
        low is not None
        and high is not None
        and (low > high or (low == high and (low_ex or high_ex)))
    ):
        raise Empty(where, "no number lies between its bounds")
    non_integral = bool(schema.get(NON_INTEGRAL))
    if low is not None and high is not None and low == high:
        if non_integral and float(low).is_integer():
            raise Empty(where, "its only number is integral")
        return st.just(low), []
    floats = st.floats(
        min_value=low,
        max_value=high,
        exclude_min=low_ex,
        exclude_max=high_ex,
        allow_nan=False,
        allow_infinity=False,
    )
    if non_integral:
        # Any interval longer than a point holds non-integral floats.  Halves (n + 0.5)
        # are built inside the bounds; other floats are drawn and integral ones refused.
        floats = floats.filter(lambda f: not float(f).is_integer())
        # Beyond 2**51, n + 0.5 is no longer exact in a double and rounds to an integer.
        n_lo = -(2**51) if low is None else max(-(2**51), math.ceil(low - 0.5))
        n_hi = 2**51 if high is None else min(2**51, math.floor(high - 0.5))
        if low_ex and n_lo + 0.5 == low:
            n_lo += 1
        if high_ex and n_hi + 0.5 == high:
            n_hi -= 1
        if n_lo > n_hi:
            return floats, []
        halves = st.integers(min_value=n_lo, max_value=n_hi).map(lambda n: n + 0.5)
        return st.one_of(halves, floats), []
    boundaries = [b for b, ex in ((low, low_ex), (high, high_ex)) if b is not None and not ex]
    lo, hi = _integer_range(low, low_ex, high, high_ex)
    if lo is None or hi is None or lo <= hi:
        return st.one_of(floats, st.integers(min_value=lo, max_value=hi)), boundaries
    return floats, boundaries


def _string(c: Compiler, schema: Mapping[str, Any], where: str) -> Built:
    min_len = c.count(schema, "minLength", where) or 0
    max_len = c.count(schema, "maxLength", where)
    if max_len is not None and min_len > max_len:
        raise Empty(where, f"minLength {min_len} is above maxLength {max_len}")
    pattern = schema.get("pattern")
    if pattern is not None:
        if not isinstance(pattern, str):
            raise c.invalid(f"{where}.pattern", f"must be a string, got {pattern!r}")
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise c.invalid(
                f"{where}.pattern", f"is not a valid regular expression: {exc}"
            ) from None
    fmt = schema.get("format")
    lengths_set = min_len > 0 or max_len is not None

    def fits(value: str) -> bool:
        return min_len <= len(value) and (max_len is None or len(value) <= max_len)

    if pattern is not None:
        shortest, longest = regex_lengths(pattern)
        caps = [n for n in (max_len, longest) if n is not None]
        if caps and max(min_len, shortest) > min(caps):
            raise Empty(
                where, f"no string matching {pattern!r} has a length in [{min_len}, {max_len}]"
            )
        simple = simple_pattern_strings(pattern, min_len)
        matching = (
            simple
            if simple is not None
            else st.one_of(
                st.from_regex(compiled, fullmatch=True), st.from_regex(compiled, fullmatch=False)
            )
        )
        general = matching.filter(fits) if lengths_set else matching
        boundaries = [""] if min_len == 0 and compiled.search("") is not None else []
    else:
        general = st.text(min_size=min_len, max_size=max_len)
        boundaries = [] if min_len else [""]
        for n in (min_len, max_len):
            if n and n <= 1000:
                boundaries.append("a" * n)
    real = realistic(fmt) if isinstance(fmt, str) else None
    if real is None:
        return general, boundaries
    if pattern is None and not lengths_set:
        return real, []

    def realistic_if_fits(pair: tuple[str, str]) -> str:
        value, fallback = pair
        ok = fits(value) and (pattern is None or compiled.search(value) is not None)
        return value if ok else fallback

    # A realistic value when it meets the other keywords, else one built to meet them.
    return st.tuples(real, general).map(realistic_if_fits), []


def _array(c: Compiler, schema: Mapping[str, Any], where: str) -> Built:
    min_items = c.count(schema, "minItems", where) or 0
    max_items = c.count(schema, "maxItems", where)
    if max_items is not None and min_items > max_items:
        raise Empty(where, f"minItems {min_items} is above maxItems {max_items}")
    items = schema.get("items", True)
    try:
        elements = c.compile(items, f"{where}.items")
    except Empty:
        if min_items:
            raise Empty(where, "needs items, and no item satisfies 'items'") from None
        return st.just([]).map(list), [[]]
    unique = schema.get("uniqueItems") is True
    size = max_items if max_items is not None else min_items + _EXTRA_ITEMS
    strategy = st.lists(
        elements, min_size=min_items, max_size=size, unique_by=json_key if unique else None
    )
    return strategy, ([[]] if min_items == 0 else [])


def _object(c: Compiler, schema: Mapping[str, Any], where: str) -> Built:
    properties = schema.get("properties", {})
    if not isinstance(properties, Mapping):
        raise c.invalid(f"{where}.properties", "must be an object of schemas")
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise c.invalid(
            f"{where}.required", f"must be an array of property names, got {required!r}"
        )
    additional = schema.get("additionalProperties", True)
    if not isinstance(additional, bool | Mapping):
        raise c.invalid(f"{where}.additionalProperties", "must be true, false or a schema")

    extra_values: st.SearchStrategy[Any] | None = None
    if additional is not False:
        try:
            extra_values = c.compile(additional, f"{where}.additionalProperties")
        except Empty:
            extra_values = None

    mandatory: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for name, sub in properties.items():
        try:
            strategy = c.compile(sub, f"{where}.properties.{name}")
        except Empty:
            if name in required:
                raise
            continue  # an optional property no value satisfies is simply left out
        (mandatory if name in required else optional)[name] = strategy
    for name in required:
        if name not in properties:
            if extra_values is None:
                raise Empty(where, f"requires {name!r}, which no value may fill")
            mandatory[name] = extra_values
    fixed = st.fixed_dictionaries(mandatory, optional=optional)
    boundaries: list[Any] = [] if required else [{}]
    if extra_values is None:
        return fixed, boundaries
    declared = set(properties) | set(required)
    extras = st.dictionaries(
        st.text(max_size=12).filter(lambda k: k not in declared), extra_values, max_size=3
    )
    return st.tuples(fixed, extras).map(lambda pair: {**pair[1], **pair[0]}), boundaries


_BUILDERS: Final[dict[str, Callable[[Compiler, Mapping[str, Any], str], Built]]] = {
    "null": _null,
    "boolean": _boolean,
    "integer": _integer,
    "number": _number,
    "string": _string,
    "array": _array,
    "object": _object,
}
