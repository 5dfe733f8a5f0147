"""The create / edit / delete pages every app has, written once.

A view still finds its object itself, with ``get_object_for_user(..., write=True)`` (404 for
another workspace's object, 403 for a viewer), and then hands over to :func:`form_page` or
:func:`delete_page`, which do the rest the same way everywhere: a GET shows the page, a valid
POST saves (or deletes), says so in a message and redirects; an invalid POST shows the form
again with its errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.contrib import messages
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

__all__ = ["delete_page", "duplicate_name_warning", "form_page"]


def form_page(
    request: HttpRequest,
    form_class: type,
    *,
    template: str,
    context_name: str,
    success_url: Callable[[Any], str],
    message: Callable[[Any], str],
    instance: Model | None = None,
    initial: Mapping[str, Any] | None = None,
    save: Callable[[Any], Any] | None = None,
    warning: Callable[[Any], str] | None = None,
    render_form: Callable[[Any], HttpResponse] | None = None,
) -> HttpResponse:
    """A create page (``instance`` None) or an edit page for ``form_class``.

    The form is built as ``form_class(request.POST or None, instance=…, user=request.user)``,
    with ``initial`` added on a GET. A valid POST calls ``save(form)`` (default
    ``form.save()``), which returns the saved object, or None when it added errors to the form
    instead; then ``message(obj)`` is shown as a success (and ``warning(obj)``, when it
    returns text, as a warning) and the browser goes to ``success_url(obj)``. Otherwise the
    page is ``render_form(form)`` when given, else ``template`` with ``form`` and the
    instance as ``context_name``.
    """
    form = form_class(request.POST or None, instance=instance, user=request.user)
    if request.method == "GET" and initial:
        form.initial.update(initial)
    if request.method == "POST" and form.is_valid():
        saved = save(form) if save is not None else form.save()
        if saved is not None:
            messages.success(request, message(saved))
            if warning is not None and (text := warning(saved)):
                messages.warning(request, text)
            return redirect(success_url(saved))
    if render_form is not None:
        return render_form(form)
    return render(request, template, {"form": form, context_name: instance})


def delete_page(
    request: HttpRequest,
    instance: Model,
    *,
    message: str,
    success_url: str,
    template: str,
    context: Callable[[], dict],
) -> HttpResponse:
    """GET asks for confirmation (``template`` with ``context()``); POST deletes ``instance``,
    shows ``message`` and goes to ``success_url``."""
    if request.method == "POST":
        instance.delete()
        messages.success(request, message)
        return redirect(success_url)
    return render(request, template, context())


def duplicate_name_warning(queryset: Any, *, name: str, noun: str, exclude: int | None = None) -> str:
    """A warning when other objects of ``queryset`` (one workspace's) already bear ``name``
    (case-insensitively), or "". Names are not unique: two agents may share one, but people
    should know they are about to make two that lists and messages cannot tell apart."""
    name = (name or "").strip()
    if not name:
        return ""
    others = queryset.filter(name__iexact=name)
    if exclude is not None:
        others = others.exclude(pk=exclude)
    count = others.count()
    if not count:
        return ""
    many = count > 1
    return (
        f"{count} other {noun}{'s' if many else ''} in this workspace {'are' if many else 'is'} already named "
        f"“{name}”. You can keep the name; a different one tells them apart in lists and messages."
    )
