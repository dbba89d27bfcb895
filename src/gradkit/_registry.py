"""`Registry`: the names a kind of component (layer, loss, optimizer, ...) is found by.

Every `get(name)` in gradkit looks its name up here, so an unknown name fails the same way
everywhere: `ConfigError("unknown loss 'l3'; known: [...]")`. Model files build only what a
registry holds, which is what keeps a file from naming arbitrary code.
"""

from __future__ import annotations

from gradkit.errors import ConfigError


class Registry:
    """Names -> components of one kind.

    Args:
        kind: what the components are, for error messages ("optimizer").
        entries: initial {name: component}.
        case_sensitive: False (the default) matches names after stripping and lower-casing;
            layer class names ("Dense") are matched exactly.
    """

    def __init__(self, kind, entries=None, *, case_sensitive=False):
        self.kind = kind
        self.case_sensitive = case_sensitive
        self._entries = {}
        for name, item in (entries or {}).items():
            self.add(item, name)

    def _key(self, name):
        return name if self.case_sensitive else str(name).strip().lower()

    def add(self, item, *names):
        """Register `item` under each of `names`; returns `item` (usable in a decorator)."""
        for name in names:
            self._entries[self._key(name)] = item
        return item

    def __contains__(self, name):
        return isinstance(name, str) and self._key(name) in self._entries

    def lookup(self, name):
        """The component called `name`; a ConfigError (a ValueError) listing the known names
        otherwise."""
        if name not in self:
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {self.names()}")
        return self._entries[self._key(name)]

    def create(self, identifier, **kwargs):
        """An instance from a name plus settings, or a config dict {"name": ..., **settings}."""
        if isinstance(identifier, dict):
            config = {**identifier, **kwargs}
            if "name" not in config:
                raise ValueError(f"a {self.kind} config needs a 'name', got keys {sorted(config)}")
            cls = self.lookup(config.pop("name"))
            return cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)
        return self.lookup(identifier)(**kwargs)

    def items(self):
        """(name, component) pairs, sorted by name."""
        return sorted(self._entries.items())

    def names(self):
        """The registered names, sorted."""
        return sorted(self._entries)
