"""Tests for gradent.lib.templating (safe ``{{ path }}`` rendering)."""

from __future__ import annotations

import pytest

from gradent.lib.templating import TemplateError, render, render_string, resolve_path

CONTEXT = {
    "input": {"task": "sync", "count": 3, "flag": False, "ratio": 0.5, "nothing": None, "tags": ["a", "b"]},
    "payload": {
        "items": [{"name": "first"}, {"name": "second"}, {"name": "third", "meta": {"x-id": "abc"}}],
        "repo": {"full_name": "acme/widgets"},
    },
    "steps": {"0": {"status": 200, "body": "hello"}, "fetch": {"status": 200, "headers": {"a": 1}}},
    "last": {"ok": True},
}


def test_it_replaces_placeholders_inside_text() -> None:
    assert render_string("task={{ input.task }} repo={{payload.repo.full_name}}", CONTEXT) == (
        "task=sync repo=acme/widgets"
    )


def test_it_allows_any_whitespace_inside_braces() -> None:
    assert render_string("{{input.task}}|{{   input.task   }}|{{\tinput.task\n}}", CONTEXT) == "sync|sync|sync"


def test_it_walks_list_indexes_and_named_steps() -> None:
    assert render_string("{{ payload.items.2.name }}", CONTEXT) == "third"
    assert render_string("{{ steps.0.body }}/{{ steps.fetch.status }}", CONTEXT) == "hello/200"


def test_it_supports_negative_list_indexes() -> None:
    assert render("{{ payload.items.-1.name }}", CONTEXT) == "third"


def test_it_accepts_hyphenated_keys() -> None:
    assert render("{{ payload.items.2.meta.x-id }}", CONTEXT) == "abc"


def test_it_returns_native_value_for_a_lone_placeholder() -> None:
    rendered = render({"n": "{{ input.count }}", "flag": "{{ input.flag }}", "tags": "{{ input.tags }}"}, CONTEXT)
    assert rendered == {"n": 3, "flag": False, "tags": ["a", "b"]}
    assert isinstance(rendered["n"], int)


def test_it_returns_native_value_even_with_surrounding_whitespace() -> None:
    assert render("  {{ input.ratio }} ", CONTEXT) == 0.5


def test_it_returns_whole_dict_for_a_lone_placeholder() -> None:
    assert render("{{ steps.fetch }}", CONTEXT) == {"status": 200, "headers": {"a": 1}}


def test_it_json_encodes_dicts_and_lists_inside_text() -> None:
    assert render("headers={{ steps.fetch.headers }}", CONTEXT) == 'headers={"a": 1}'
    assert render("tags: {{ input.tags }}", CONTEXT) == 'tags: ["a", "b"]'


def test_it_stringifies_scalars_inside_text_with_str() -> None:
    text = render("{{ input.count }} {{ input.ratio }} {{ input.flag }} {{ input.nothing }} {{ last.ok }}", CONTEXT)
    assert text == "3 0.5 False None True"


def test_it_render_string_always_returns_text() -> None:
    assert render_string("{{ input.count }}", CONTEXT) == "3"
    assert render_string("{{ steps.fetch.headers }}", CONTEXT) == '{"a": 1}'


def test_it_renders_nested_structures_and_leaves_keys_alone() -> None:
    value = {
        "{{ input.task }}": ["x {{ input.task }}", {"deep": "{{ payload.items.0.name }}"}, 7, None, True],
        "tuple": ("{{ input.count }}",),
    }
    assert render(value, CONTEXT) == {
        "{{ input.task }}": ["x sync", {"deep": "first"}, 7, None, True],
        "tuple": [3],
    }


def test_it_does_not_mutate_the_input_value() -> None:
    value = {"a": ["{{ input.task }}"]}
    render(value, CONTEXT)
    assert value == {"a": ["{{ input.task }}"]}


def test_it_leaves_strings_without_placeholders_untouched() -> None:
    assert render("plain {braces} and } {", CONTEXT) == "plain {braces} and } {"
    assert render("", CONTEXT) == ""


def test_it_raises_template_error_naming_a_missing_key() -> None:
    with pytest.raises(TemplateError) as excinfo:
        render({"x": "{{ payload.repo.owner.login }}"}, CONTEXT)
    message = str(excinfo.value)
    assert "payload.repo.owner.login" in message
    assert "'owner'" in message


def test_it_raises_for_an_index_out_of_range() -> None:
    with pytest.raises(TemplateError, match=r"payload\.items\.9\.name.*index 9 out of range"):
        render("{{ payload.items.9.name }}", CONTEXT)


def test_it_raises_for_a_word_used_as_list_index() -> None:
    with pytest.raises(TemplateError, match="not an index"):
        render("{{ payload.items.first }}", CONTEXT)


def test_it_raises_when_descending_into_a_scalar_or_null() -> None:
    with pytest.raises(TemplateError, match="input.task.length"):
        render("{{ input.task.length }}", CONTEXT)
    with pytest.raises(TemplateError, match="null"):
        render("{{ input.nothing.x }}", CONTEXT)


def test_it_raises_for_unknown_top_level_name() -> None:
    with pytest.raises(TemplateError, match="secrets"):
        render("{{ secrets.api_key }}", CONTEXT)


def test_it_template_error_is_a_value_error() -> None:
    assert issubclass(TemplateError, ValueError)


def test_it_rejects_expressions_instead_of_evaluating_them() -> None:
    for template in ["{{ input.count + 1 }}", "{{ __import__('os') }}", "{{ input['task'] }}", "{{ }}"]:
        with pytest.raises(TemplateError, match="invalid template placeholder"):
            render(template, CONTEXT)


def test_it_does_not_reach_python_attributes() -> None:
    # Only mapping keys and list indexes are followed, never getattr.
    with pytest.raises(TemplateError):
        render("{{ input.task.__class__ }}", CONTEXT)
    with pytest.raises(TemplateError):
        render("{{ input.tags.append }}", CONTEXT)


def test_it_does_not_re_render_substituted_values() -> None:
    context = {"input": {"evil": "{{ input.secret }}", "secret": "s3cr3t"}}
    assert render("say {{ input.evil }}", context) == "say {{ input.secret }}"
    assert render("{{ input.evil }}", context) == "{{ input.secret }}"


def test_it_resolve_path_returns_values_directly() -> None:
    assert resolve_path("payload.items.1.name", CONTEXT) == "second"


def test_it_accepts_int_keys_in_python_built_mappings() -> None:
    assert render("{{ steps.1 }}", {"steps": {1: "one"}}) == "one"


def test_it_rejects_non_string_templates_in_render_string() -> None:
    with pytest.raises(TypeError):
        render_string(123, CONTEXT)  # type: ignore[arg-type]


def test_it_passes_through_non_string_scalars() -> None:
    assert render(42, CONTEXT) == 42
    assert render(None, CONTEXT) is None


def test_it_refuses_absurdly_deep_nesting() -> None:
    value: object = "x"
    for _ in range(150):
        value = [value]
    with pytest.raises(TemplateError, match="nested too deeply"):
        render(value, CONTEXT)


def test_a_default_stands_in_for_a_missing_path_and_keeps_its_json_type() -> None:
    assert render_string('Hi {{ input.name | default: "there" }}!', {"input": {}}) == "Hi there!"
    assert render_string('Hi {{ input.name|default:"there" }}!', {"input": {"name": "Ann"}}) == "Hi Ann!"
    assert render("{{ input.n | default: 3 }}", {"input": {}}) == 3
    assert render("{{ input.n | default: null }}", {"input": {}}) is None
    assert render_string('{{ a | default: "say \\"hi\\"" }}', {}) == 'say "hi"'


def test_a_placeholder_without_a_default_still_names_the_missing_path() -> None:
    with pytest.raises(TemplateError, match="input.x"):
        render_string("{{ input.x }}", {"input": {}})


@pytest.mark.parametrize("bad", ["{{ a | default: nope }}", '{{ a | default: "\\q" }}', "{{ a | upper }}"])
def test_a_malformed_default_is_refused(bad) -> None:
    with pytest.raises(TemplateError):
        render_string(bad, {"a": 1})
