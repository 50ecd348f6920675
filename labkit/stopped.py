"""Reports for a run that stopped while pytest was starting, before the report plugins write:
a JUnit file with one error and an HTML page that says the run did not start, so CI always
finds a report that says why."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html import escape
from pathlib import Path
from typing import Any

from labkit import settings


def write(option: Any, why: str) -> None:
    """`option` is pytest's parsed options (`config.option`): where JUnit and HTML go, if asked."""
    xml_path, html_path = getattr(option, "xmlpath", None), getattr(option, "htmlpath", None)
    if xml_path:
        suites = ET.Element("testsuites")
        suite = ET.SubElement(suites, "testsuite", name="pytest", tests="1", errors="1", failures="0", skipped="0")
        case = ET.SubElement(suite, "testcase", classname=settings.PROJECT, name="run")
        ET.SubElement(case, "error", message=why).text = why
        Path(xml_path).parent.mkdir(parents=True, exist_ok=True)
        ET.ElementTree(suites).write(xml_path, encoding="utf-8", xml_declaration=True)
    if html_path:
        Path(html_path).parent.mkdir(parents=True, exist_ok=True)
        title = f"{settings.PROJECT}: the run did not start"
        Path(html_path).write_text(
            f"<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1><p>{escape(why)}</p></body></html>\n"
        )
