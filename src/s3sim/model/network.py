"""Observation of the collaboration network (model-spec 5.9, F4).

The network joins actors that partnered within the last ``tie_memory`` steps (from both sides' tie memories).
Per node: degree, local clustering coefficient and membership of the giant component (the largest connected
component with at least one tie); per region these give the mean degree, the mean local clustering, the share
of its actors in the giant component and the share of its ties that cross a regional border. Totals use global
transitivity (3 x triangles / connected triples) for clustering. One numba pass, O(N k^2) for mean degree k.
"""

from __future__ import annotations

import numpy as np

from ._jit import kernel
from .state import TIE_SLOTS


@kernel
def _adjacency(alive, tie_partner, tie_step, since, n):
    """Symmetric neighbour lists in CSR form (duplicates removed)."""
    deg = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        if not alive[i]:
            continue
        for s in range(TIE_SLOTS):
            j = tie_partner[i, s]
            if j >= 0 and j != i and tie_step[i, s] >= since and alive[j]:
                deg[i + 1] += 1
                deg[j + 1] += 1
    for i in range(n):
        deg[i + 1] += deg[i]
    nbr = np.empty(deg[n], dtype=np.int64)
    fill = deg[:-1].copy()
    for i in range(n):
        if not alive[i]:
            continue
        for s in range(TIE_SLOTS):
            j = tie_partner[i, s]
            if j >= 0 and j != i and tie_step[i, s] >= since and alive[j]:
                nbr[fill[i]] = j
                fill[i] += 1
                nbr[fill[j]] = i
                fill[j] += 1
    # sort and deduplicate each list in place
    start = np.zeros(n + 1, dtype=np.int64)
    out = np.empty(deg[n], dtype=np.int64)
    m = 0
    for i in range(n):
        lo = deg[i]
        hi = deg[i + 1]
        for q in range(lo + 1, hi):  # insertion sort: neighbour lists are short
            v = nbr[q]
            r = q - 1
            while r >= lo and nbr[r] > v:
                nbr[r + 1] = nbr[r]
                r -= 1
            nbr[r + 1] = v
        start[i] = m
        last = -1
        for q in range(lo, hi):
            j = nbr[q]
            if j != last:
                out[m] = j
                m += 1
                last = j
    start[n] = m
    return start, out[:m]


@kernel
def _node_metrics(alive, region, n, start, nbr, n_regions):
    mark = np.full(n, -1, dtype=np.int64)
    deg = np.zeros(n)
    tri = np.zeros(n)
    for i in range(n):
        d = start[i + 1] - start[i]
        deg[i] = d
        if d < 2:
            continue
        for q in range(start[i], start[i + 1]):
            mark[nbr[q]] = i
        t = 0
        for q in range(start[i], start[i + 1]):
            j = nbr[q]
            for q2 in range(start[j], start[j + 1]):
                if mark[nbr[q2]] == i:
                    t += 1
        tri[i] = t / 2.0
    # connected components (iterative DFS)
    label = np.full(n, -1, dtype=np.int64)
    stack = np.empty(n, dtype=np.int64)
    sizes = np.zeros(n, dtype=np.int64)
    n_comp = 0
    for s0 in range(n):
        if label[s0] >= 0 or not alive[s0] or start[s0 + 1] == start[s0]:
            continue
        top = 0
        stack[0] = s0
        label[s0] = n_comp
        while top >= 0:
            v = stack[top]
            top -= 1
            sizes[n_comp] += 1
            for q in range(start[v], start[v + 1]):
                u = nbr[q]
                if label[u] < 0:
                    label[u] = n_comp
                    top += 1
                    stack[top] = u
        n_comp += 1
    giant = -1
    best = 0
    for c in range(n_comp):
        if sizes[c] > best:
            best = sizes[c]
            giant = c
    ties = np.zeros(n_regions)
    cross = np.zeros(n_regions)
    for i in range(n):
        for q in range(start[i], start[i + 1]):
            j = nbr[q]
            ties[region[i]] += 1
            if region[j] != region[i]:
                cross[region[i]] += 1
    return deg, tri, label, giant, ties, cross


@kernel
def _region_table(alive, region, n, n_regions, deg, tri, label, giant, ties, cross):
    """Rows: mean_degree, clustering, giant_component_share, interregional_tie_share; columns: regions, total."""
    out = np.zeros((4, n_regions + 1))
    cnt = np.zeros(n_regions + 1)
    tri_tot = 0.0
    pairs_tot = 0.0
    for i in range(n):
        if not alive[i]:
            continue
        r = region[i]
        d = deg[i]
        pairs = d * (d - 1) / 2.0
        c = tri[i] / pairs if pairs > 0 else 0.0
        g = 1.0 if (giant >= 0 and label[i] == giant) else 0.0
        for h in range(2):  # the actor's region, then the total column
            col = r if h == 0 else n_regions
            cnt[col] += 1
            out[0, col] += d
            out[1, col] += c
            out[2, col] += g
        tri_tot += tri[i]
        pairs_tot += pairs
    for col in range(n_regions + 1):
        if cnt[col] > 0:
            out[0, col] /= cnt[col]
            out[1, col] /= cnt[col]
            out[2, col] /= cnt[col]
    out[1, n_regions] = tri_tot / pairs_tot if pairs_tot > 0 else 0.0  # global transitivity
    t_all = 0.0
    c_all = 0.0
    for r in range(n_regions):
        out[3, r] = cross[r] / ties[r] if ties[r] > 0 else 0.0
        t_all += ties[r]
        c_all += cross[r]
    out[3, n_regions] = c_all / t_all if t_all > 0 else 0.0
    return out


def metrics_from_ties(alive: np.ndarray, region: np.ndarray, tie_partner: np.ndarray, tie_step: np.ndarray,
                      t: int, memory: int, n: int, n_regions: int) -> dict[str, np.ndarray]:
    """Network metrics per region (index 0..R-1) and in total (index R)."""
    start, nbr = _adjacency(alive, tie_partner, tie_step, t - memory, n)
    deg, tri, label, giant, ties, cross = _node_metrics(alive, region, n, start, nbr, n_regions)
    table = _region_table(alive, region, n, n_regions, deg, tri, label, giant, ties, cross)
    return dict(zip(NETWORK_INDICATORS, table))


NETWORK_INDICATORS = ("mean_degree", "clustering", "giant_component_share", "interregional_tie_share")


def edge_list(alive: np.ndarray, tie_partner: np.ndarray, tie_step: np.ndarray, t: int, memory: int,
              n: int) -> np.ndarray:
    """Undirected edges (i < j) of the current collaboration network, shape (E, 2)."""
    start, nbr = _adjacency(alive, tie_partner, tie_step, t - memory, n)
    src = np.repeat(np.arange(n), np.diff(start))
    keep = src < nbr
    return np.column_stack([src[keep], nbr[keep]])
