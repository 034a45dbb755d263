"""Properties of the environment.yml ``limits:`` parser and editor: any text is limits or an
EnvFileError; an edit changes the limits and nothing else, whatever the file around them."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conda_limits.limits.model import LimitSet, parse_limits
from conda_limits.state import environment_yml
from conda_limits.state.environment_yml import EnvFileError

from .strategies import spelled_limits

FAST = settings(max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "120")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(lambda n: n != "limits")
SCALARS = st.one_of(NAMES, st.integers(0, 99), st.just("'quoted: text'"), st.just("null"))
COMMENT = st.from_regex(r"# [ -~]{0,20}", fullmatch=True)


@st.composite
def entry(draw: st.DrawFn, indent: int) -> str:
    """One top-level entry other than limits: a scalar, a list or a mapping, with comments."""
    key = draw(NAMES)
    pad = " " * indent
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return f"{key}: {draw(SCALARS)}\n"
    if kind == 1:
        items = draw(st.lists(SCALARS, max_size=3))
        return f"{key}:\n" + "".join(f"{pad}- {item}\n" for item in items) if items else \
            f"{key}: []\n"
    if kind == 2:
        return f"{key}: [{', '.join(map(str, draw(st.lists(SCALARS, max_size=3))))}]\n"
    return f"{key}:\n{pad}inner: {draw(SCALARS)}  {draw(COMMENT)}\n"


def block(limits: dict[str, Any], indent: int, flow: bool) -> str:
    def shown(value: Any) -> str:
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
        return str(value)

    if flow:
        return "limits: {" + ", ".join(f"{k}: {shown(v)}" for k, v in limits.items()) + "}\n"
    return "limits:\n" + "".join(f"{' ' * indent}{k}: {shown(v)}\n" for k, v in limits.items())


@st.composite
def environment_file(draw: st.DrawFn) -> tuple[str, dict[str, Any] | None]:
    """The text of an environment file and the limits it holds (None: no limits key)."""
    indent = draw(st.sampled_from([2, 4]))
    parts = [f"name: {draw(NAMES)}\n"]
    keys = {"name"}
    for part in draw(st.lists(st.one_of(entry(indent), COMMENT.map(lambda c: c + "\n"),
                                         st.just("\n")), max_size=6)):
        key = part.split(":", 1)[0]
        if part[0].isalpha() and key in keys:
            continue  # no duplicate keys: YAML refuses them
        keys.add(key)
        parts.append(part)
    limits = draw(st.one_of(st.none(), spelled_limits()))
    if limits is not None:
        text = block(limits, indent, flow=draw(st.booleans()) and bool(limits))
        parts.insert(draw(st.integers(1, len(parts))), text)
    return "".join(parts), limits


@FAST
@given(st.text(max_size=200))
def test_any_text_is_an_environment_file_or_an_error(text):
    try:
        env = environment_yml.loads(text)
    except EnvFileError as error:
        assert str(error).isprintable()
    else:
        assert isinstance(env.limits, LimitSet)


@FAST
@given(environment_file())
def test_the_limits_block_is_read_as_written(case):
    text, limits = case
    env = environment_yml.loads(text)
    assert env.has_limits == (limits is not None)
    assert env.limits == parse_limits(limits or {})


def outside_limits(text: str) -> list[str]:
    """The file's lines that are not part of a top-level ``limits:`` entry."""
    out, inside = [], False
    for line in text.splitlines():
        if line.startswith("limits:"):
            inside = True
            continue
        if inside and line.strip() and line.startswith((" ", "\t")):
            continue
        inside = False if line and not line.startswith((" ", "\t")) else inside
        out.append(line)
    return [line for line in out if line.strip()]


@FAST
@given(environment_file(), spelled_limits())
def test_an_edit_changes_the_limits_and_nothing_else(case, new):
    text, _ = case
    env = environment_yml.loads(text)
    wanted = parse_limits(new)
    edited = environment_yml.edit(env, wanted)
    after = environment_yml.loads(edited)
    assert after.limits == wanted
    if wanted == env.limits:
        assert edited == text  # nothing to change: not even an empty `limits:` goes
    else:
        assert after.has_limits == bool(wanted)
    assert outside_limits(edited) == outside_limits(text)
    again = environment_yml.edit(after, env.limits)  # and back
    assert environment_yml.loads(again).limits == env.limits
    assert outside_limits(again) == outside_limits(text)


def careful_loads(text: str) -> environment_yml.EnvFile:
    """``loads`` without the quick outline: the whole document round-trip loaded."""
    from conda_limits.state import yaml_outline

    quick = yaml_outline.outline
    yaml_outline.outline = lambda text: None
    try:
        return environment_yml.loads(text)
    finally:
        yaml_outline.outline = quick


def reading(text: str) -> tuple[object, ...]:
    try:
        env = environment_yml.loads(text)
    except EnvFileError as error:
        return ("error", error.problem, error.line, error.column)
    return (env.limits, env.has_limits, env.name, env.prefix)


@FAST
@given(environment_file(), st.sampled_from(["", "  vmem: 4Q\n", "  nofile: -1\n",
                                            "  colour: red\n"]))
def test_the_quick_reading_agrees_with_the_careful_one(case, bad):
    text, limits = case
    if bad and limits is not None and "limits:\n" in text:
        text = text.replace("limits:\n", "limits:\n" + bad, 1)
    try:
        careful = careful_loads(text)
    except EnvFileError as error:
        expected: tuple[object, ...] = ("error", error.problem, error.line, error.column)
    else:
        expected = (careful.limits, careful.has_limits, careful.name, careful.prefix)
    assert reading(text) == expected
