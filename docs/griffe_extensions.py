"""griffe extensions for the API reference (``extensions:`` of the mkdocstrings handler in mkdocs.yml).

:class:`ImportsShadowSubmodules`: a package that re-exports a function under its own module's name.
``ganmetric/inversion/__init__.py`` does ``from .invert import invert``: at run time ``ganmetric.inversion.invert``
is the function (the import rebinds the name), but griffe's static view keeps the submodule there, so the
function would be missing from the reference (and from ``ganmetric``, which re-exports it). This puts the
imported object back where Python has it, and points the aliases of that name at it.

:class:`LazyExports`: ``ganmetric.generators`` exports its family classes through a module ``__getattr__`` (imported
on first use), which griffe cannot follow: a name in ``__all__`` that the package does not define is looked up in
its submodules.

:class:`SphinxRoles`: the docstrings cite names with Sphinx roles (``:func:`resolve_method```,
``:class:`~ganmetric.errors.InputError```), which markdown would show verbatim; each becomes the name in code,
linked to its entry in the reference where there is one.
"""
from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:class|func|attr|data|mod|meth|exc|obj):`(~?)([\w.]+)(?:\(\))?`")


class ImportsShadowSubmodules(griffe.Extension):
    """A name that a package's ``__init__`` imports from its own submodule of that name is the imported object."""

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        """Fix every package of ``pkg``, recursively, once it is loaded.

        Args:
            pkg: the loaded top-level package.
            **kwargs: the other arguments griffe passes (unused).
        """
        fixed: dict[str, griffe.Object] = {}
        _shadowed(pkg, fixed)
        _repoint(pkg, fixed)


def _shadowed(module: griffe.Module, fixed: dict) -> None:
    """Replace each shadowed submodule by an alias to its namesake object; record ``path -> object`` in ``fixed``."""
    for name, target in list(module.imports.items()):
        member = module.members.get(name)
        if (member is not None and not member.is_alias and member.is_module
                and target == f"{member.path}.{name}" and name in member.members):
            obj = member.members[name]
            del module.members[name]
            # the alias holds the object itself: its path through the package would lead back to the alias
            module.set_member(name, griffe.Alias(name, obj, parent=module))
            fixed[member.path] = obj
    for member in list(module.members.values()):
        if not member.is_alias and member.is_module:
            _shadowed(member, fixed)


def _repoint(module: griffe.Module, fixed: dict) -> None:
    """Aliases elsewhere that named a shadowed submodule's path now hold the object found there."""
    for name, member in list(module.members.items()):
        if member.is_alias and member.target_path in fixed and member.parent is module:
            del module.members[name]
            module.set_member(name, griffe.Alias(name, fixed[member.target_path], parent=module))
        elif not member.is_alias and member.is_module:
            _repoint(member, fixed)


class LazyExports(griffe.Extension):
    """A name in a package's ``__all__`` that it does not bind is the object of that name in one of its modules."""

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        """Add the missing exports of every package of ``pkg``, recursively.

        Args:
            pkg: the loaded top-level package.
            **kwargs: the other arguments griffe passes (unused).
        """
        _lazy_exports(pkg)


def _lazy_exports(module: griffe.Module) -> None:
    submodules = [m for m in module.members.values() if not m.is_alias and m.is_module]
    for name in [str(e) for e in (module.exports or ())]:
        if name in module.members:
            continue
        found = [m.members[name] for m in submodules if name in m.members and not m.members[name].is_alias]
        if len(found) == 1:
            module.set_member(name, griffe.Alias(name, found[0], parent=module))
    for submodule in submodules:
        _lazy_exports(submodule)


class SphinxRoles(griffe.Extension):
    """``:role:`target``` in a docstring -> the target in code, an optional cross-reference (no link, no warning
    where the reference has no entry for it)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        """Rewrite the roles of one object's docstring.

        Args:
            obj: a module, class, function or attribute that griffe loaded.
            **kwargs: the other arguments griffe passes (unused).
        """
        if obj.docstring is not None and ":" in obj.docstring.value:
            obj.docstring.value = ROLE.sub(lambda m: _reference(obj, m.group(2), bool(m.group(1))),
                                           obj.docstring.value)


def _reference(obj: griffe.Object, target: str, short: bool) -> str:
    """The markdown for one role: ``target`` shown (its last part with ``~``), linked when it resolves."""
    shown = target.rsplit(".", 1)[-1] if short else target
    identifier = target
    if not target.startswith("ganmetric"):
        scope = obj if obj.is_module or obj.is_class else obj.parent
        try:
            identifier = scope.resolve(target.split(".", 1)[0]) + target[len(target.split(".", 1)[0]):]
        except (griffe.NameResolutionError, AttributeError, ValueError):
            identifier = target
    return f'<autoref identifier="{identifier}" optional><code>{shown}</code></autoref>'
