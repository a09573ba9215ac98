"""The model's metric on a drift window, from its batches' prediction and label columns."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from monitoring.models import InferenceBatch, Monitor
from monitoring.services import files


def label_metric(monitor: Monitor, batches: list[InferenceBatch]) -> dict[str, Any]:
    """The model's metric on the window, when the batches carry labels: accuracy for a categorical
    prediction, RMSE and MAE for a numeric one. Summed batch by batch from the two columns alone; the
    kind is the one the window's columns would have concatenated (float for floats and integers)."""
    pred, label = monitor.prediction_column, monitor.label_column
    if not (pred and label):
        return {}
    shapes: list[pd.DataFrame] = []  # each batch's pair, empty: its dtypes
    rows = matches = 0
    squares = absolutes = 0.0
    not_numbers: Exception | None = None
    for batch in batches:
        frame = files.batch_columns(batch, [pred, label])
        if pred not in frame or label not in frame:
            continue
        pair = frame[[pred, label]].dropna()
        del frame
        shapes.append(pair.iloc[:0])
        rows += len(pair)
        matches += int((pair[pred].astype(str) == pair[label].astype(str)).sum())
        try:
            err = pair[pred].to_numpy(float) - pair[label].to_numpy(float)
        except (TypeError, ValueError) as exc:  # raised below if the window's kind is numeric
            not_numbers = exc
            continue
        squares += float(np.dot(err, err))
        absolutes += float(np.abs(err).sum())
    if not shapes or rows == 0:
        return {}
    kind = pd.concat(shapes)[pred]
    if pd.api.types.is_numeric_dtype(kind) and pd.api.types.is_float_dtype(kind):
        if not_numbers is not None:
            raise not_numbers
        return {"rmse": math.sqrt(squares / rows), "mae": absolutes / rows, "labelled_rows": rows}
    return {"accuracy": matches / rows, "labelled_rows": rows}
