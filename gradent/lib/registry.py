"""One plug-in pattern for every kind (DESIGN.md §10): tools, providers, probes, signature
schemes, transports, action handlers and dispatcher sources.

A :class:`Registry` holds the built-ins, registered explicitly by the owning app (an app
above adds its own from ``AppConfig.ready``), plus the extras a deployment lists in one
setting. Extras are *added*: a name that is already taken keeps its first owner, and the
system check reports the duplicate. Entries are dotted paths resolved lazily with
``import_string`` (or, for the few registered at run time, the objects themselves); a path
that does not import is an ``ImproperlyConfigured`` naming the setting and the path.

The setting is a list of dotted paths (a comma-separated string from the environment is
accepted too); a dict ``{name: dotted path}`` names its entries explicitly, for plug-ins
that do not carry a name (plain functions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

__all__ = ["Registry"]

_registries: list[Registry] = []


class Registry:
    """The plug-ins of one kind, by name.

    ``name_attr``: the attribute that names a plug-in (``name``, ``kind``…). ``base``: the
    class every plug-in subclasses (or is an instance of); without it, a plug-in must be
    callable. ``load``: applied to each resolved object once (e.g. instantiate a class).
    ``check_id`` is used for paths that do not import and duplicate names, ``invalid_id``
    for objects that are not a plug-in of this kind, ``setting_id`` for a setting that is
    not a list or dict (both default to ``check_id``).
    """

    def __init__(
        self,
        kind: str,
        *,
        setting: str,
        check_id: str,
        builtins: tuple[str, ...] | list[str] = (),
        name_attr: str = "name",
        base: type | None = None,
        load: Callable[[Any], Any] | None = None,
        invalid_id: str | None = None,
        setting_id: str | None = None,
    ) -> None:
        self.kind = kind
        self.setting = setting
        self.check_id = check_id
        self.invalid_id = invalid_id or check_id
        self.setting_id = setting_id or check_id
        self.name_attr = name_attr
        self.base = base
        self.load = load
        self._registered: list[tuple[str | None, Any]] = [(None, path) for path in builtins]
        self._entries: dict[str, Any] | None = None
        _registries.append(self)

    # -- registering -----------------------------------------------------------------------

    def register(self, entry: Any, *, name: str | None = None) -> None:
        """Add a built-in: a dotted path (imported when first needed) or the object itself.
        Registering the same entry twice is a no-op (``ready()`` may run more than once)."""
        if (name, entry) not in self._registered:
            self._registered.append((name, entry))
            self.clear()

    def unregister(self, name: str) -> None:
        """Remove the entries registered at run time under ``name`` (tests)."""
        self._registered = [
            (given, entry)
            for given, entry in self._registered
            if isinstance(entry, str) or (given or self._name_of(entry)) != name
        ]
        self.clear()

    def clear(self) -> None:
        self._entries = None

    # -- reading ---------------------------------------------------------------------------

    def extras(self) -> list[tuple[str | None, str]]:
        """``(explicit name or None, dotted path)`` for each entry of the setting."""
        value = getattr(settings, self.setting, None) or []
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, dict):
            items = [(str(name), path) for name, path in value.items()]
        elif isinstance(value, list | tuple):
            items = [(None, path) for path in value]
        else:
            raise ImproperlyConfigured(
                f"{self.setting} must be a list of dotted paths (or a dict of name to dotted path), "
                f"not {type(value).__name__}"
            )
        for _name, path in items:
            if not isinstance(path, str) or not path.strip():
                raise ImproperlyConfigured(f"{self.setting}: {path!r} is not a dotted path")
        return [(name, path.strip()) for name, path in items]

    def paths(self) -> list[str]:
        """Every dotted path: the built-ins, then the setting's."""
        builtin = [entry for _name, entry in self._registered if isinstance(entry, str)]
        return [*builtin, *(path for _name, path in self.extras())]

    def entries(self) -> dict[str, Any]:
        """Name → plug-in, built-ins first; an extra never replaces a name already taken."""
        if self._entries is None:
            found: dict[str, Any] = {}
            for name, entry, origin in self._all():
                obj = self._resolve(entry, origin)
                name = name or self._name_of(obj)
                if name and name not in found:
                    found[name] = self.load(obj) if self.load else obj
            self._entries = found
        return self._entries

    def get(self, name: str) -> Any:
        """The plug-in registered as ``name``; ``KeyError`` otherwise."""
        try:
            return self.entries()[name]
        except (KeyError, TypeError):
            raise KeyError(name) from None

    def names(self) -> list[str]:
        return list(self.entries())

    def choices(self, label: str | Callable[[Any], str] = "label") -> list[tuple[str, str]]:
        """``(name, label)`` for form and serializer choices, in registration order."""
        read = label if callable(label) else (lambda obj: getattr(obj, label, ""))
        return [(name, str(read(obj) or name)) for name, obj in self.entries().items()]

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.entries()

    def __len__(self) -> int:
        return len(self.entries())

    def __repr__(self) -> str:
        return f"<Registry {self.kind} ({self.setting})>"

    # -- the system check ------------------------------------------------------------------

    def check(self) -> list[checks.CheckMessage]:
        """Errors for the system check: a path that does not import, an object that is not a
        plug-in of this kind, a duplicate name. Those from the setting name it."""
        errors: list[checks.CheckMessage] = []
        try:
            entries = self._all()
        except ImproperlyConfigured as exc:
            errors.append(checks.Error(str(exc), id=self.setting_id))
            entries = [(name, entry, None) for name, entry in self._registered]
        seen: dict[str, str] = {}
        for name, entry, origin in entries:
            where = f" (listed in {origin})" if origin else ""
            hint = f"Check {origin}." if origin else None
            label = entry if isinstance(entry, str) else repr(entry)
            if isinstance(entry, str):
                try:
                    obj = import_string(entry)
                except Exception as exc:  # a broken module must not crash the check itself
                    message = f"{self.kind} {label!r} cannot be imported: {exc}{where}"
                    errors.append(checks.Error(message, hint=hint, id=self.check_id))
                    continue
            else:
                obj = entry
            problem = self._problem(obj)
            name = name or self._name_of(obj)
            if problem is None and not name:
                problem = f"has no {self.name_attr}"
            if problem:
                errors.append(checks.Error(f"{self.kind} {label!r} {problem}{where}", hint=hint, id=self.invalid_id))
            elif name in seen:
                message = f"{self.kind} {label!r} reuses the name {name!r} of {seen[name]!r}{where}"
                errors.append(checks.Error(message, hint=hint, id=self.check_id))
            else:
                seen[name] = label
        return errors

    # -- inside ----------------------------------------------------------------------------

    def _all(self) -> list[tuple[str | None, Any, str | None]]:
        """``(explicit name, entry, setting it came from or None)``, built-ins first."""
        builtin = [(name, entry, None) for name, entry in self._registered]
        return [*builtin, *((name, path, self.setting) for name, path in self.extras())]

    def _resolve(self, entry: Any, origin: str | None) -> Any:
        if not isinstance(entry, str):
            return entry
        try:
            obj = import_string(entry)
        except ImportError as exc:
            where = f"{origin}: " if origin else ""
            raise ImproperlyConfigured(f"{where}{self.kind} {entry!r} cannot be imported: {exc}") from exc
        problem = self._problem(obj)
        if problem:
            where = f"{origin}: " if origin else ""
            raise ImproperlyConfigured(f"{where}{self.kind} {entry!r} {problem}")
        return obj

    def _problem(self, obj: Any) -> str | None:
        if self.base is None:
            return None if callable(obj) else "is not callable"
        if isinstance(obj, self.base) or (isinstance(obj, type) and issubclass(obj, self.base)):
            return None
        return f"is not a subclass of {self.base.__module__}.{self.base.__qualname__}"

    def _name_of(self, obj: Any) -> str:
        name = getattr(obj, self.name_attr, "")
        return name if isinstance(name, str) else ""


def _forget(*, setting: str, **kwargs: Any) -> None:
    """``override_settings`` (tests) and settings changed at run time take effect at once."""
    for registry in _registries:
        if registry.setting == setting:
            registry.clear()


setting_changed.connect(_forget, dispatch_uid="gradent.lib.registry.forget")
