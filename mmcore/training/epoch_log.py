"""The per-epoch log: every loss term of training and validation, as CSV and as JSON.

Both files are rewritten whole after every epoch (atomically), so they are always complete and a resumed
run continues the same files. Columns are the union of the keys of all epochs, in first-seen order.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mmcore.atomic import atomic_write_text
from mmcore.training.checkpoint import atomic_write_json

CSV_FILE = "training_log.csv"
JSON_FILE = "training_log.json"


def _columns(records: Sequence[Mapping[str, Any]]) -> list[str]:
    columns: dict[str, None] = {}
    for record in records:
        columns.update(dict.fromkeys(record))
    return list(columns)


def _json_safe(value: Any) -> Any:
    """JSON has no NaN or infinity; write them as null rather than produce an invalid file."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_epoch_log(directory: Path, records: Sequence[Mapping[str, Any]]) -> None:
    """Write ``training_log.csv`` and ``training_log.json`` with one record per epoch."""
    directory = Path(directory)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_columns(records), restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    atomic_write_text(directory / CSV_FILE, buffer.getvalue())
    atomic_write_json(directory / JSON_FILE, [{key: _json_safe(value) for key, value in r.items()} for r in records])


def read_epoch_log(directory: Path) -> list[dict[str, Any]]:
    """The JSON log as a list of per-epoch records."""
    return json.loads((Path(directory) / JSON_FILE).read_text(encoding="utf-8"))
