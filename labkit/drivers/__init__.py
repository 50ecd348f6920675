"""The lab's stores, one driver module each; the scenario runs once per driver.

Adding a store (the EFS lab, say) is one module here, one overlay in manifests/ and, for a
workshop tree, one layout row; the tests select drivers by capability and do not change.
Drivers from outside the package (a test's stand-in, a plug-in) join with `register`.
"""

from __future__ import annotations

from labkit.drivers import emptydir, s3
from labkit.variants import Variant

BUILT_IN: tuple[Variant, ...] = (emptydir.DRIVER, s3.DRIVER)
_registered: list[Variant] = []


def all_drivers() -> tuple[Variant, ...]:
    return (*BUILT_IN, *_registered)


def by_name(name: str) -> Variant:
    for driver in all_drivers():
        if driver.name == name:
            return driver
    known = ", ".join(d.name for d in all_drivers())
    raise KeyError(f"no variant named {name!r} (known: {known})")


def register(driver: Variant) -> Variant:
    if any(d.name == driver.name for d in all_drivers()):
        raise ValueError(f"a variant named {driver.name!r} is registered already")
    _registered.append(driver)
    return driver


def unregister(driver: Variant) -> None:
    """A registered driver leaves (a plug-in at the end of its run); built-in ones stay."""
    if driver in _registered:
        _registered.remove(driver)
