"""Plugin discovery (stevedore, ``gencls`` entry points) and contribution (pluggy hooks).

Only the plugins a run needs are imported: the built-in ones (shipped by the ``gencls`` distribution)
plus those named, in the order named; ``no:NAME`` leaves one out (as pytest's ``-p no:NAME``).
``load_plugins(all_installed=True)`` imports every installed plugin and records broken ones instead of
failing (for ``gencls plugins list``). Hooks are called through pluggy's hook callers, one plugin at a time
where errors must name the plugin.
"""

from __future__ import annotations

import importlib.metadata
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pluggy
from stevedore import ExtensionManager, NamedExtensionManager

from gencls_core import hookspecs
from gencls_core.errors import GenclsError, GenclsWarning, PluginLoadError, PluginNotFound, did_you_mean
from gencls_core.interfaces import KINDS
from gencls_core.registry import PluginInfo, Registry

GROUP = "gencls"


def installed_plugins() -> dict[str, PluginInfo]:
    """Every installed plugin, read from package metadata without importing anything. Where two distributions
    use one entry-point name, the built-in one (else the first found) is listed."""
    return _scan()[0]


def _scan() -> tuple[dict[str, PluginInfo], dict[str, list[PluginInfo]]]:
    """Installed plugins by name, and name -> the other distributions' plugins that use a listed one's name."""
    by_name: dict[str, list[PluginInfo]] = {}
    for ep in importlib.metadata.entry_points(group=GROUP):
        dist = ep.dist
        info = PluginInfo(ep.name, ep.value, dist.name if dist else "?", dist.version if dist else "?")
        same = [i for i in by_name.setdefault(ep.name, []) if (i.module, i.distribution) == (info.module,
                                                                                             info.distribution)]
        if not same:
            by_name[ep.name].append(info)
    found, clashes = {}, {}
    for name, infos in by_name.items():
        infos.sort(key=lambda i: not i.builtin)  # the built-in one first, then in the order found
        found[name] = infos[0]
        if len(infos) > 1:
            clashes[name] = infos[1:]
    return found, clashes


def requested_plugins(names: Sequence[str] = ()) -> list[str]:
    """Names from the caller plus ``GENCLS_PLUGINS`` (comma-separated), in order, without repeats; ``no:NAME``
    entries leave a plugin out."""
    env = [n for n in os.environ.get("GENCLS_PLUGINS", "").split(",") if n.strip()]
    out: list[str] = []
    for n in [*names, *env]:
        n = n.strip()
        if n and n not in out:
            out.append(n)
    return out


@dataclass
class Plugins:
    """The loaded plugins: pluggy's manager, what they registered, and those that failed."""

    pm: pluggy.PluginManager
    registry: Registry
    loaded: list[PluginInfo] = field(default_factory=list)
    broken: dict[str, tuple[PluginInfo, str]] = field(default_factory=dict)

    @property
    def hook(self):
        return self.pm.hook

    def defaults(self) -> dict[str, str | list[str]]:
        """Config slot -> default component name(s), from the plugins' ``gencls_default_components``."""
        found: dict[str, tuple[str, str | list[str]]] = {}
        for plugin, call in hook_callers(self.pm, "gencls_default_components"):
            for result in call():
                for slot, value in result.items():
                    if slot in found and found[slot][1] != value:
                        raise PluginLoadError(
                            f"plugins {found[slot][0]!r} and {plugin!r} both set the default {slot} "
                            f"({found[slot][1]!r} and {value!r}); leave one out with --plugins no:NAME")
                    found[slot] = (plugin, value)
        return {slot: value for slot, (_, value) in found.items()}

    def default_training(self) -> dict[str, Any]:
        """The plugins' ``gencls_default_training``: what an always-training entry point runs when told nothing."""
        found: tuple[str, dict[str, Any]] | None = None
        for plugin, call in hook_callers(self.pm, "gencls_default_training"):
            for result in call():
                if not isinstance(result, dict) or not set(result) <= {"trainers", "recipe"}:
                    raise PluginLoadError(f"plugin {plugin!r} gave gencls_default_training {result!r}; expected a "
                                          f"mapping of trainers and/or recipe")
                if found is not None and found[1] != result:
                    raise PluginLoadError(f"plugins {found[0]!r} and {plugin!r} both set the default training "
                                          f"({found[1]!r} and {result!r}); leave one out with --plugins no:NAME")
                found = (plugin, result)
        if found is None:
            raise PluginLoadError("no plugin gives a default training (gencls_default_training); name the stages "
                                  "in the config, e.g. {'trainers': [{'name': 'sft'}]}")
        return found[1]


def _new_pm() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    return pm


def _describe_error(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in str(text).splitlines() if line.strip())


def _from_env(name: str) -> str:
    """' (from GENCLS_PLUGINS)' when the environment variable named the plugin."""
    env = [n.strip().removeprefix("no:").strip() for n in os.environ.get("GENCLS_PLUGINS", "").split(",")]
    return f" (from GENCLS_PLUGINS={os.environ['GENCLS_PLUGINS']!r})" if name in env else ""


def load_plugins(names: Sequence[str] = (), *, all_installed: bool = False,
                 modules: Sequence[tuple[PluginInfo, object]] = ()) -> Plugins:
    """Import and register plugins.

    ``names``: third-party plugins to load after the built-ins (``--plugins``), and ``no:NAME`` for plugins
    (built-in ones included) to leave out. ``modules``: extra ``(info, module_or_object)`` pairs registered
    directly (tests, the Python API).
    """
    available, clashes = _scan()
    requested = requested_plugins(names)
    left_out = [n[3:].strip() for n in requested if n.startswith("no:")]
    names = [n for n in requested if not n.startswith("no:") and n not in left_out]
    if all_installed:  # listing imports every plugin anyway: a bad name is a warning, not the end of the listing
        for n in [*left_out, *names]:
            if n not in available:
                warnings.warn(f"plugin {n!r}{_from_env(n)} is not installed{did_you_mean(n, available)}; listing "
                              f"the installed plugins", GenclsWarning, stacklevel=2)
        left_out, names = [n for n in left_out if n in available], [n for n in names if n in available]
    for n in left_out:
        if n not in available:
            raise PluginNotFound(f"cannot leave out plugin {n!r} (no:{n}{_from_env(n)}): it is not installed"
                                 f"{did_you_mean(n, available)}; installed: {', '.join(sorted(available))}")
    for n in names:
        if n in clashes:
            dists = ", ".join(f"{i.distribution} {i.version}" for i in [available[n], *clashes[n]])
            raise PluginLoadError(f"plugin {n!r} is provided by several installed distributions ({dists}); "
                                  f"uninstall all but one" + (" (the built-in one cannot be replaced)"
                                                              if available[n].builtin else ""))
        if n not in available:
            installed = sorted(p for p, i in available.items() if not i.builtin)
            raise PluginNotFound(
                f"plugin {n!r}{_from_env(n)} is not installed{did_you_mean(n, available)}. "
                f"Installed third-party plugins: {', '.join(installed) or 'none'}. "
                f"Try: pip install gencls-plugin-{n}")
    wanted = list(available) if all_installed else [n for n, i in available.items() if i.builtin] + names
    wanted = [n for n in wanted if n not in left_out]

    failures: dict[str, BaseException] = {}

    def on_failure(_manager: ExtensionManager, ep: importlib.metadata.EntryPoint, err: BaseException) -> None:
        failures[ep.name] = err

    ExtensionManager.ENTRY_POINT_CACHE.pop(GROUP, None)  # see installs made since the last call
    manager = _ChosenExtensions(available, GROUP, names=wanted, name_order=True,
                                on_load_failure_callback=on_failure, on_missing_entrypoints_callback=None)
    plugins = Plugins(_new_pm(), Registry())
    if all_installed:
        for n, others in clashes.items():
            for info in others:
                plugins.broken[f"{n} ({info.distribution})"] = (
                    info, f"its entry-point name {n!r} is already used by {available[n].describe()}; it is never "
                          f"loaded (rename its entry point in the gencls group)")
    for n, err in failures.items():
        _fail(plugins, available[n], f"failed to import: {_describe_error(err)}", err, all_installed)
    for ext in manager:
        _add(plugins, available[ext.name], ext.plugin, all_installed)
    for info, module in modules:
        _add(plugins, info, module, all_installed)
    return plugins


class _ChosenExtensions(NamedExtensionManager):
    """Imports only the chosen entry point of each wanted name: where two distributions use one name, the one
    ``installed_plugins`` lists; the shadowed one is never imported."""

    def __init__(self, chosen: dict[str, PluginInfo], *args, **kwargs) -> None:
        self._chosen = chosen
        super().__init__(*args, **kwargs)

    def _load_one_plugin(self, ep, *args):
        info = self._chosen.get(ep.name)
        if info is None or ep.value != info.module or (ep.dist is not None and ep.dist.name != info.distribution):
            return None
        return super()._load_one_plugin(ep, *args)


def _fail(plugins: Plugins, info: PluginInfo, why: str, err: BaseException, tolerate: bool) -> None:
    why = _one_line(why)
    if tolerate:
        plugins.broken[info.name] = (info, why)
        return
    raise PluginLoadError(f"{info.describe()} {why}") from err


def _add(plugins: Plugins, info: PluginInfo, module: object, tolerate: bool) -> None:
    """Register one plugin with pluggy and collect its components, rolling back on any error."""
    pm = plugins.pm
    try:
        pm.register(module, name=info.name)
        pm.check_pending()
    except pluggy.PluginValidationError as err:
        if pm.is_registered(module):
            pm.unregister(module)
        _fail(plugins, info, f"has an invalid hook implementation: {err}", err, tolerate)
        return
    try:
        _collect(plugins.registry, pm, info)
    except Exception as err:  # a plugin's register hook may raise anything; attribute it to the plugin
        pm.unregister(module)
        if isinstance(err, GenclsError) and not tolerate:
            raise
        _fail(plugins, info, f"failed while registering components: {_describe_error(err)}", err, tolerate)
        return
    plugins.loaded.append(info)


def hook_callers(pm: pluggy.PluginManager, hook_name: str) -> Iterator[tuple[str, pluggy.HookCaller]]:
    """For each plugin implementing ``hook_name``, in registration order: its name and pluggy's caller of the
    hook restricted to it, so a result or an error can be attributed to the plugin."""
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        others = [p for p in pm.get_plugins() if p is not impl.plugin]
        yield impl.plugin_name, pm.subset_hook_caller(hook_name, remove_plugins=others)


def _collect(registry: Registry, pm: pluggy.PluginManager, info: PluginInfo) -> None:
    """Call each register hook of the plugin named ``info.name`` alone, so components know their plugin."""
    staged = Registry()
    for kind, (hook_name, _base) in KINDS.items():
        for name, call in hook_callers(pm, hook_name):
            if name != info.name:
                continue

            def register(component, *, name=None, _kind=kind):
                staged.add(_kind, component, info, name)

            call(register=register)
    registry.merge(staged)
