"""The README's parameter table lists every parameter the node declares, with its *when*."""

from __future__ import annotations

import re

from support import REPO

from centertrack_ros.runtime import settings

WHEN = {settings.RUNTIME: 'runtime', settings.CONFIGURE: 'configure',
        settings.ACTIVATE: 'activate', settings.STARTUP: 'start-up'}


def readme_parameters() -> dict[str, str]:
    """Return ``{parameter: when}`` from the table of the README's "Parameters" section."""
    text = (REPO / 'README.md').read_text(encoding='utf-8')
    section = text.split('\n## Parameters\n', 1)[1].split('\n## ', 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip('|').split('|')]
        if len(cells) < 5 or not cells[0].startswith('`'):
            continue
        for name in re.findall(r'`([^`]+)`', cells[0]):
            rows[name] = cells[3]
    return rows


def test_every_declared_parameter_is_in_the_readme_table_with_its_when():
    rows = readme_parameters()
    assert set(rows) == set(settings.SPECS)
    for name, spec in settings.SPECS.items():
        assert rows[name] == WHEN[spec.applies], name
