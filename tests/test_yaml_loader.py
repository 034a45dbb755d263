"""Integers in YAML are checked as written: the record, environment.yml and the kernel's
``--mem`` file refuse ``0x10``, ``1_024``, ``010`` and the like, whatever YAML makes of them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conda_limits.jupyter import launch
from conda_limits.jupyter.kernelspec import OVERRIDES
from conda_limits.limits.model import Limit
from conda_limits.limits.values import WrittenInt
from conda_limits.state import environment_yml, record
from conda_limits.state.yaml_loader import round_trip

from .strategies import non_decimal_spellings

# (the scalar as written, the number YAML makes of it); YAML 1.1 ones carry the directive.
NOT_DECIMAL = [
    ("0x10", 16), ("0o17", 15), ("0b101", 5), ("1_024", 1024), ("16_", 16),
    ("+16", 16), ("-0", 0), ("0010", 10), ("!!int '0x10'", 16), ("!!int 0o20", 16),
]
YAML11 = [("010", 8), ("1:30", 90), ("0b11", 3), ("1_000", 1000)]


def _document(value: str, version11: bool = False, key: str = "nofile") -> str:
    head = "%YAML 1.1\n---\n" if version11 else ""
    return f"{head}limits:\n  {key}: {value}\n"


def _case_list():
    for text, number in NOT_DECIMAL:
        yield pytest.param(_document(text), number, id=text)
    for text, number in YAML11:
        yield pytest.param(_document(text, True), number, id=f"1.1 {text}")
    yield pytest.param("limits:\n  nofile: {soft: 0x10, hard: 64}\n", 16, id="soft 0x10")
    yield pytest.param("limits:\n  cpu: {hard: 1_000}\n", 1000, id="hard 1_000")
    yield pytest.param(_document("1:30", True, "cpu"), 90, id="1.1 cpu 1:30")


CASES = list(_case_list())


@pytest.mark.parametrize(("text", "number"), CASES)
def test_the_record_refuses_integers_not_written_in_decimal(tmp_path, text, number):
    with pytest.raises(record.RecordError) as error:
        record.loads(text, tmp_path / "limits.yml")
    assert "not plain decimal digits" in str(error.value)
    assert f"takes it as {number}" in str(error.value)


@pytest.mark.parametrize(("text", "number"), CASES)
def test_environment_yml_refuses_them_with_the_position(text, number):
    if "%YAML" not in text:
        text = "name: x\ndependencies: []\n" + text
    with pytest.raises(environment_yml.EnvFileError) as error:
        environment_yml.loads(text, "environment.yml")
    assert "not plain decimal digits" in error.value.problem
    assert error.value.line is not None


@pytest.mark.parametrize("text", ["0x100000", "1_048_576", "+1048576"])
def test_the_kernel_mem_file_refuses_them(tmp_path, text):
    (tmp_path / OVERRIDES).write_text(f"mem: {text}\n")
    with pytest.raises(ValueError, match="not plain decimal digits"):
        launch.kernel_mem(str(tmp_path))


@pytest.mark.parametrize(("text", "expected"), [
    ("1024", 1024), ("0", 0), ("'0x10'", None), ('"1024"', 1024), ("!!int '1024'", 1024),
    ("&n 1024", 1024), ("4G", 4 * 2**30),
])
def test_decimal_integers_and_strings_load_as_before(tmp_path, text, expected):
    key = "vmem" if text == "4G" else "nofile"
    document = _document(text, key=key)
    if expected is None:  # a quoted string: the value syntax refuses it, as before
        with pytest.raises(record.RecordError, match="expected a "):
            record.loads(document, tmp_path / "limits.yml")
        return
    assert record.loads(document, tmp_path / "limits.yml")[key] == Limit(expected)
    assert environment_yml.loads(document).limits[key] == Limit(expected)


def test_an_alias_of_a_decimal_anchor_is_a_decimal():
    env = environment_yml.loads("x: &n 1024\nlimits:\n  nofile: *n\n")
    assert env.limits["nofile"] == Limit(1024)


def test_other_keys_keep_their_numbers_and_edits_keep_the_file(tmp_path):
    path = tmp_path / "environment.yml"
    path.write_text("name: x\nmask: 0x1F  # hex elsewhere is not ours\nlimits:\n  nofile: 64\n")
    env, text = environment_yml.replace_limits(path, environment_yml.loads(
        "limits: {nofile: 128}").limits)
    assert env.data["mask"] == 31
    assert text == "name: x\nmask: 0x1F  # hex elsewhere is not ours\nlimits:\n  nofile: 128\n"


def test_written_ints_dump_as_written_and_ruamel_is_left_alone():
    from ruamel.yaml import YAML

    yaml = round_trip()
    data = yaml.load("a: 0x1F\nb: 1_024\nc: 12\n")
    assert isinstance(data["a"], WrittenInt) and data["a"] == 31 and data["a"].text == "0x1F"
    assert type(data["c"]) is int
    out = io.StringIO()
    yaml.dump(data, out)
    assert out.getvalue() == "a: 0x1F\nb: 1_024\nc: 12\n"
    assert not isinstance(YAML(typ="rt").load("a: 0x10")["a"], WrittenInt)  # conda's YAML


def test_written_ints_in_a_document_with_a_directive_still_load(tmp_path: Path):
    data = round_trip().load("%YAML 1.1\n---\na: 010\nb: 10\n")
    assert data["a"].text == "010" and data["a"] == 8 and data["b"] == 10


# ------------------------------------------------------------------ properties (hypothesis)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**64), st.data())
def test_property_every_non_decimal_spelling_is_refused_and_decimal_is_kept(number, data):
    text, version11 = data.draw(st.sampled_from(non_decimal_spellings(number)))
    loaded = round_trip().load(_document(text, version11))["limits"]["nofile"]
    assert isinstance(loaded, WrittenInt) and loaded.text in text
    with pytest.raises(record.RecordError, match="not plain decimal digits"):
        record.loads(_document(text, version11), Path("limits.yml"))
    plain = round_trip().load(_document(str(number)))["limits"]["nofile"]
    assert not isinstance(plain, WrittenInt) and plain == number


# A scalar as a user might write it after `nofile:`: digits, bases, signs, tags, quotes, units.
SCALAR_TEXT = st.from_regex(
    r"\A(!!int |!!str |!!float )?['\"]?[+\-]?(0[xob])?[0-9_:.]{1,10}[KMGkmgs]?['\"]?\Z") | \
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)


@settings(max_examples=300, deadline=None)
@given(SCALAR_TEXT, st.booleans())
def test_property_a_scalar_is_a_decimal_value_or_a_clear_error(text, version11):
    document = _document(text, version11)
    try:
        env = environment_yml.loads(document, "environment.yml")
    except environment_yml.EnvFileError as error:
        assert error.problem
        with pytest.raises(record.RecordError):
            record.loads(document, Path("limits.yml"))
        return
    assert record.loads(document, Path("limits.yml")) == env.limits
    if "nofile" not in env.limits:
        return
    value = env.limits["nofile"].soft
    written = text.strip().strip("'\"").removeprefix("!!int ").removeprefix("!!str ").strip(
        "'\"")
    assert value == "unlimited" or (type(value) is int and value == int(written, 10)
                                    and (written == "0" or not written.startswith("0")
                                         or text.strip()[0] in "'\"!"))


@pytest.mark.parametrize(("text", "message"), [
    ("limits: {nofile: 0x_}\n", "1:18: not valid YAML: cannot read '0x_' as !!int"),
    ("limits: {nofile: -_}\n", "cannot read '-_' as !!int"),
    ("limits: {nofile: !!float _}\n", "cannot read '_' as !!float"),
    ("limits: {nofile: !!set x}\n", "cannot read 'x' as !!set"),
    ("x: !!bool maybe\nlimits: {}\n", "1:4: not valid YAML: cannot read 'maybe' as !!bool"),
    ("x: !!omap [1]\n", "not valid YAML: while constructing an ordered map"),  # ruamel's own
])
def test_values_ruamel_cannot_make_are_yaml_errors_not_tracebacks(tmp_path, text, message):
    with pytest.raises(environment_yml.EnvFileError) as error:
        environment_yml.loads(text, "environment.yml")
    assert message in str(error.value)
    with pytest.raises(record.RecordError, match="not valid YAML: "):
        record.loads(text, tmp_path / "limits.yml")
