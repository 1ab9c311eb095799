"""Marks the user guide as a package for pytest only.

pytest imports each ``conftest.py`` under a module name derived from its
folder; without this file, the guide's conftest and ``tests/conftest.py``
would both be imported as ``conftest`` and clash.
"""
