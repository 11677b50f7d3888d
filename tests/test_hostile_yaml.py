"""The YAML loader against hostile and malformed files: bounded, never a traceback, never an echo."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k8s_install.base.errors import InvalidInput
from k8s_install.model import yamlfile

VAULT_OK = "$ANSIBLE_VAULT;1.1;AES256\n6162636465\n3031323334\n"


def _bomb(levels: int = 12, width: int = 10) -> str:
    lines = ["l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    for level in range(1, levels):
        refs = ", ".join([f"*l{level - 1}"] * width)
        lines.append(f"l{level}: &l{level} [{refs}]")
    return "\n".join(lines) + "\n"


def _merge_bomb(levels: int = 40) -> str:
    lines = ["m0: &m0 {a: 1, b: 2}"]
    for level in range(1, levels):
        lines.append(f"m{level}: &m{level} {{<<: [*m{level - 1}, *m{level - 1}], k{level}: 1}}")
    return "\n".join(lines) + "\n"


# Each case: a file the loader must refuse with exit 2 (InvalidInput), and a word of the reason.
REFUSED = [
    ("alias bomb", _bomb(), "alias"),
    ("merge-key bomb", _merge_bomb(), "values"),
    ("wide alias fan-out", "a: &a x\nb: [" + ", ".join(["*a"] * 20_000) + "]\n", "aliases"),
    ("5000-digit int", "n: " + "9" * 5000 + "\n", "number"),
    ("40-digit int", "n: " + "1" * 40 + "\n", "number"),
    ("hex int too long", "n: 0x" + "f" * 60 + "\n", "number"),
    ("impossible date", "d: 2024-02-30\n", "timestamp"),
    ("explicit bool tag", "b: !!bool maybe\n", "bool"),
    ("explicit float tag", "f: !!float abc\n", "float"),
    ("explicit timestamp tag", "t: !!timestamp '99'\n", "timestamp"),
    ("explicit int tag", "i: !!int abc\n", "int"),
    ("deep flow nesting", "[" * 100 + "]" * 100, "nested"),
    (
        "deep block nesting",
        "".join("  " * i + "k:\n" for i in range(80)) + "  " * 80 + "v\n",
        "nested",
    ),
    ("libyaml depth limit", "[" * 5000 + "]" * 5000, "YAML"),
    ("duplicate key", "a: 1\na: 2\n", "duplicate"),
    ("duplicate key after merge", "d: &d {a: 1}\nx:\n  <<: *d\n  b: 1\n  b: 2\n", "duplicate"),
    ("mapping as key", "? {a: 1}\n: x\n", "key"),
    ("list as key", "? [a]\n: x\n", "key"),
    ("alias to a list as key", "a: &a [1]\n? *a\n: x\n", "key"),
    ("undefined alias", "a: *nowhere\n", "anchor"),
    ("recursive alias", "a: &a [*a]\n", "itself"),
    ("unknown tag on a scalar", "a: !custom x\n", "tag"),
    ("set tag on a mapping", "a: !!set {x, y}\n", "tag"),
    ("omap tag on a list", "a: !!omap [{x: 1}]\n", "tag"),
    ("!vault on a mapping", "p: !vault {a: 1}\n", "mapping"),
    ("!vault on a list", "p: !vault [a]\n", "list"),
    ("!vault plaintext", "p: !vault hunter2\n", "ciphertext"),
    ("!vault header only", "p: !vault $ANSIBLE_VAULT;1.1;AES256\n", "ciphertext"),
    ("!vault bad body", "p: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  not hex\n", "ciphertext"),
    ("merge of a scalar", "a: &a 1\nb:\n  <<: *a\n", "merge"),
    ("second document", "a: 1\n---\nb: 2\n", "document"),
    ("control character", "a: \x01\n", "character"),
    ("NUL byte", "a: b\x00c\n", "character"),
    ("tab indentation", "a:\n\tb: 1\n", "YAML"),
    ("unclosed flow", "a: [1, 2\n", "YAML"),
    ("unclosed quote", "a: 'x\n", "YAML"),
]


@pytest.mark.parametrize(("text", "word"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_hostile_yaml_is_refused_quickly(text: str, word: str) -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidInput) as caught:
        yamlfile.parse(text, "f.yaml")
    assert time.perf_counter() - started < 2
    rendered = str(caught.value) + " ".join(str(p) for p in caught.value.problems)
    assert word.lower() in rendered.lower()
    assert caught.value.problems, "a refusal always carries a problem for --json"


ACCEPTED = [
    ("merge with override", "d: &d {a: 1, b: 2}\nx:\n  <<: *d\n  b: 3\n", {"a": 1, "b": 3}),
    ("override before merge", "d: &d {a: 1, b: 2}\nx:\n  b: 3\n  <<: *d\n", {"a": 1, "b": 3}),
    (
        "merge list, first wins",
        "p: &p {k: 1}\nq: &q {k: 2, j: 2}\nx: {<<: [*p, *q]}\n",
        {"k": 1, "j": 2},
    ),
    ("inline merge", "x:\n  <<: {a: 1}\n  b: 2\n", {"a": 1, "b": 2}),
    ("nested merge", "a: &a {k: 1}\nb: &b {<<: *a, j: 2}\nx: {<<: *b}\n", {"k": 1, "j": 2}),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED]
)
def test_merge_keys_work(text: str, expected: dict[str, int]) -> None:
    assert yamlfile.parse(text).data["x"] == expected


def test_quoted_merge_key_is_a_plain_key() -> None:
    assert yamlfile.parse('"<<": 1\n').data == {"<<": 1}


def test_vault_ciphertext_is_kept() -> None:
    data = yamlfile.parse("p: !vault |\n  " + VAULT_OK.replace("\n", "\n  ")).data
    assert isinstance(data["p"], yamlfile.Vaulted)
    assert yamlfile.is_vault_ciphertext(data["p"])


def test_vault_with_a_vault_id_is_ciphertext() -> None:
    assert yamlfile.is_vault_ciphertext("$ANSIBLE_VAULT;1.2;AES256;prod\n6162\n")


def test_keys_are_the_text_written() -> None:
    assert yamlfile.parse("1: a\nyes: b\nnull: c\n").data == {"1": "a", "yes": "b", "null": "c"}


def test_aliases_within_the_limit_work() -> None:
    data = yamlfile.parse(_bomb(levels=3, width=10)).data
    assert len(data["l2"]) == 10 and data["l2"][0][0] == ["lol"] * 10


def test_a_long_value_is_cut_short_in_messages() -> None:
    with pytest.raises(InvalidInput) as caught:
        yamlfile.parse("d: !!float '" + "x" * 5000 + "'\ne: !!timestamp '" + "9" * 5000 + "'\n")
    assert len(caught.value.problems) == 2
    for problem in caught.value.problems:
        assert len(problem.message) < 200


def test_undefined_alias_name_is_cut_short() -> None:
    with pytest.raises(InvalidInput) as caught:
        yamlfile.parse("a: *" + "x" * 10_000 + "\n")
    assert len(str(caught.value)) < 300


def _file(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "cluster.yaml"
    path.write_bytes(content)
    return path


def test_a_file_over_the_size_cap_is_refused_unread(tmp_path: Path) -> None:
    path = _file(tmp_path, b"a: " + b"x" * (yamlfile.MAX_BYTES + 10) + b"\n")
    with pytest.raises(InvalidInput, match="larger than"):
        yamlfile.load(path)


@pytest.mark.parametrize(
    ("make", "word"),
    [
        (lambda d: d, "directory"),
        (lambda d: d / "absent.yaml", "no such file"),
        (lambda d: Path("/dev/zero"), "not a regular file"),
        (lambda d: Path("/dev/null"), "not a regular file"),
    ],
    ids=["directory", "missing", "dev-zero", "dev-null"],
)
def test_unreadable_paths_are_refused(make: object, word: str, tmp_path: Path) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(InvalidInput, match=word) as caught:
        yamlfile.load(path)
    assert caught.value.problems


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InvalidInput, match="not a regular file"):
        yamlfile.load(fifo)


def test_binary_and_latin1_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="UTF-8"):
        yamlfile.load(_file(tmp_path, b"a: \xff\xfe\n"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    path = _file(tmp_path, b"a: 1\n")
    path.chmod(0)
    with pytest.raises(InvalidInput, match="cannot be read"):
        yamlfile.load(path)


# Property tests: any text, and any YAML-shaped text, ends in data or InvalidInput; nothing else.

_yamlish = st.lists(
    st.sampled_from([*"ab01 -:[]{},&*!<>|'\"\n\t#?.%@`~\\", "<<", "!vault", "&a", "*a", "  "]),
    max_size=120,
).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=300), _yamlish))
def test_loader_never_crashes(text: str) -> None:
    try:
        yamlfile.parse(text)
    except InvalidInput as exc:
        assert len(str(exc)) < 1000


# YAML folds the line breaks NEL, LS and PS in plain text, so round trips leave them out.
_text = st.text(st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=20)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**12), 10**12), _text)
_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(_text, children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_text, _values, max_size=6))
def test_dumped_data_loads_back_equal(data: dict[str, object]) -> None:
    """Whatever we dump, the loader reads back unchanged (keys are text, so use text keys)."""
    assert yamlfile.parse(yamlfile.dump(data)).data == data


@pytest.mark.parametrize(
    "text",
    ["- zq\n" * 1000, "zqadmin:x:0:0:zq:/zq:/bin/bash\nzqdaemon:x:1:1::/:/bin/sh\n", "4242\n"],
    ids=["list", "passwd-like text", "number"],
)
def test_a_file_that_is_not_a_mapping_is_refused_unbuilt_and_unquoted(
    text: str, tmp_path: Path
) -> None:
    path = _file(tmp_path, text.encode())
    with pytest.raises(InvalidInput, match="must be a mapping") as caught:
        yamlfile.load(path)
    rendered = str(caught.value) + " ".join(str(p) for p in caught.value.problems)
    assert "zq" not in rendered and "4242" not in rendered


def test_an_empty_file_loads_as_nothing(tmp_path: Path) -> None:
    assert yamlfile.load(_file(tmp_path, b"# only a comment\n")).data is None


def test_a_mapping_with_none_of_the_expected_keys_is_refused_before_its_problems() -> None:
    text = "processor: 0\nzqmodel: x\nprocessor: 1\nzqmodel: y\n"  # /proc/cpuinfo-like
    with pytest.raises(InvalidInput, match="not a cluster definition") as caught:
        yamlfile.parse(text, "f", mapping=True, expect=("name", "kubernetes", "nodes"))
    rendered = str(caught.value) + " ".join(str(p) for p in caught.value.problems)
    assert "processor" not in rendered and "zqmodel" not in rendered
    with pytest.raises(InvalidInput) as known:
        yamlfile.parse("name: a\n" + text, "f", mapping=True, expect=("name",))
    assert all("duplicate" in p.message for p in known.value.problems)
