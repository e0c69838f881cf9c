"""Alpaca's activity type names and the activity kinds tradeapi makes of three of them. Plain data, so the routes
can check a path's type without loading the request shapes (pydantic) at a cold start."""
from __future__ import annotations

from chalicelib.domain.vocabulary import ActivityKind

# Every activity type Alpaca names (alpaca-py's ActivityType). tradeapi makes FILL, CSD and CSW; asking for another
# is asking for what never happens here, answered with none.
ACTIVITY_TYPES = frozenset({
    "FILL", "ACATC", "ACATS", "CFEE", "CIL", "CSD", "CSW", "DIV", "DIVCGL", "DIVCGS", "DIVNRA", "DIVROC", "DIVTXEX",
    "DIVWH", "EXTRD", "FEE", "FXTRD", "INT", "INTPNL", "JNLC", "JNLS", "MA", "MEM", "NC", "OCT", "OPASN", "OPCSH",
    "OPEXC", "OPEXP", "OPTRD", "PTC", "REORG", "SPIN", "SPLIT", "SWP", "VOF", "WH"})
TRADE_ACTIVITY_TYPES = frozenset({"FILL"})
ACTIVITY_KINDS = {"FILL": ActivityKind.FILL, "CSD": ActivityKind.DEPOSIT, "CSW": ActivityKind.WITHDRAWAL}
