"""Reading BIDS TSV files as they are found in the wild."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bids_app.errors import BadDataError, require_readable

#: Columns holding labels, read as text so that ``01`` stays ``01``.
LABEL_COLUMNS = ("name", "channel", "subject", "session", "run", "layer")


def read_tsv(path: str | Path, required: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a BIDS TSV file into a DataFrame.

    Tolerates a UTF-8 byte-order mark, treats ``n/a`` and empty cells as missing, and strips
    whitespace from column names.

    Parameters
    ----------
    path : str | Path
        The ``.tsv`` file.
    required : tuple of str
        Columns that must be present.

    Returns
    -------
    table : DataFrame
        The table; missing values are NaN.

    Raises
    ------
    BadDataError
        When the file cannot be read (permissions) or parsed, or lacks a required column.
    """
    path = Path(path)
    require_readable(path)
    try:
        table = pd.read_csv(path, sep="\t", encoding="utf-8-sig", na_values=["n/a", ""],
                            keep_default_na=False, dtype=dict.fromkeys(LABEL_COLUMNS, str))
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise BadDataError(f"Cannot read {path}: {err}. It must be a tab-separated BIDS table "
                           "with a header row.") from err
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise BadDataError(f"{path} lacks the required column(s) {missing}; found "
                           f"{list(table.columns)}.")
    return table
