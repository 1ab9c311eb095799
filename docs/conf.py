"""Sphinx configuration for the skpunzi documentation (``make docs``)."""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import os
import re

import matplotlib

import skpunzi

# The gallery runs examples on a machine without a screen.
matplotlib.use("Agg")

# Examples read this to shrink their data and epochs, so that the docs build
# stays fast; export SKPUNZI_DOCS_FAST=0 to render the full-size runs.
os.environ.setdefault("SKPUNZI_DOCS_FAST", "1")

# -- Project -----------------------------------------------------------------

project = "skpunzi"
author = "the skpunzi developers"
copyright = "2026, the skpunzi developers"
release = skpunzi.__version__
version = ".".join(release.split(".")[:2])

# -- General -----------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
default_role = "literal"

# One page per public object, written to generated/ from api.rst.
autosummary_generate = True

# Class pages list their methods through autodoc (see the class template),
# not through numpydoc's member tables, so each method is documented once.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# The build must work offline, so no intersphinx inventories are fetched:
# references to numpy, scikit-learn or torch objects stay plain text.


def _skip_foreign_members(app, what, name, obj, skip, options):
    """Leave out class members that skpunzi inherits from other projects.

    Methods such as ``get_params`` (scikit-learn) or ``to`` (torch) are
    documented by those projects, and their docstrings cross-reference labels
    that exist only in those projects' docs.
    """
    if what != "class":
        return None
    defined_in = getattr(getattr(obj, "fget", obj), "__module__", None) or ""
    if not defined_in.startswith("skpunzi"):
        return True
    return None


# A fitted attribute in a shape, e.g. "ndarray of shape (n_features_in_,)",
# would be read by reST as a link to a target "n_features_in".
_SHAPE = re.compile(r"shape \(([^()]*)\)")
_TRAILING_UNDERSCORE = re.compile(r"(?<![`\w\\])(\w+)_(?=[,)\s]|$)")


def _escape_shape(match):
    return "shape (" + _TRAILING_UNDERSCORE.sub(r"\1\\_", match.group(1)) + ")"


def _quote_attributes_in_shapes(app, what, name, obj, options, lines):
    """Escape trailing underscores of names inside ``shape (...)``."""
    for index, line in enumerate(lines):
        lines[index] = _SHAPE.sub(_escape_shape, line)


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_members)
    # Before numpydoc (priority 500) turns the docstring into reST.
    app.connect("autodoc-process-docstring", _quote_attributes_in_shapes, priority=400)


# -- sphinx-gallery ----------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # Executed: the plot_*.py scripts and the Z' study zprime_search.py (which
    # shrinks itself under SKPUNZI_DOCS_FAST=1). Other scripts are shown only.
    "filename_pattern": r"/(plot_[^/]*|zprime_search)\.py$",
    "doc_module": ("skpunzi",),
    # Feeds the "Examples using ..." mini-galleries on the API pages.
    "backreferences_dir": "generated",
    "download_all_examples": False,
    "remove_config_comments": True,
}

# -- HTML --------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"skpunzi {release}"
html_static_path = ["_static"]
html_css_files = ["skpunzi.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False
