"""S4 Accounting: profit and capital (model-spec 5.7 S4).

profit_i = revenue_i + public transfers_i - costs_i, where costs are depreciation, research and collaboration
costs of the step; capital_i += profit_i. Money enters only as revenue, public transfers (research-institute
grants, policy subsidies) and the initial capital of entrants, and leaves as costs and the capital of exiting
firms; the model keeps a ledger of each so that the money balance can be checked exactly.
"""

from __future__ import annotations

from ._jit import kernel, live_rows
from .state import RI


@kernel
def open_books(n, costs, transfers, subsidy, rd_spend, flows_in):
    """A step's books start empty: costs, transfers, subsidies, R&D spending and knowledge flows of every row."""
    for i in range(n):
        costs[i] = 0.0
        transfers[i] = 0.0
        subsidy[i] = 0.0
        rd_spend[i] = 0.0
        flows_in[i] = 0


@kernel
def settle(alive, kind, n, revenue, transfers, costs, capital, profit, prev_profit, depreciation, ri_grant):
    """Close the step's books. Returns (revenue, transfers, costs) summed over actors."""
    tr = 0.0
    tt = 0.0
    tc = 0.0
    for i in live_rows(alive, n):
        costs[i] += depreciation
        if kind[i] == RI:
            transfers[i] += ri_grant
        p = revenue[i] + transfers[i] - costs[i]
        prev_profit[i] = profit[i]
        profit[i] = p
        capital[i] += p
        tr += revenue[i]
        tt += transfers[i]
        tc += costs[i]
    return tr, tt, tc
