"""The installed parsers and server libraries are at versions without the known advisories
on hostile input (each floor is also in pyproject.toml)."""

from __future__ import annotations

from importlib.metadata import version

import pytest
from packaging.version import Version

# package: (first safe version, what the older ones allowed)
SAFE = {
    "pdfminer.six": ("20251107", "code execution from a crafted PDF (CMap loading by pickle)"),
    "unstructured": ("0.14.3", "XML external entities (XXE) in partition_xml"),
    "pypdf": ("6.0.0", "memory exhaustion from a crafted FlateDecode stream"),
    "lxml": ("4.9.1", "NULL dereference on crafted input (CVE-2022-2309)"),
    "pillow": ("10.3.0", "buffer overflow in ImageCms (CVE-2024-28219)"),
    "python-multipart": ("0.0.18", "denial of service from crafted multipart boundaries"),
    "h11": ("0.16.0", "request smuggling through chunked bodies (CVE-2025-43859)"),
    "jinja2": ("3.1.6", "sandbox escape through |attr (CVE-2025-27516)"),
    "defusedxml": ("0.7.1", "openpyxl reads XLSX without it: entity expansion"),
}


@pytest.mark.parametrize("package", sorted(SAFE))
def test_installed_version_has_no_known_advisory(package: str) -> None:
    floor, risk = SAFE[package]
    installed = version(package)
    assert Version(installed) >= Version(floor), (
        f"{package} {installed} is older than {floor}: {risk}; pip install -U '{package}>={floor}'"
    )
