"""S9 Learning by doing and forgetting (SKIN; model-spec S9).

Every step, expertise of each IH triple rises by one (capped at 10) and expertise of every other triple falls by
one; a non-IH triple whose expertise reaches zero is forgotten. Research institutes forget at half speed (only
on even steps), standing for a slower-decaying scientific knowledge stock.
"""

from __future__ import annotations

from ._jit import kernel

from .knowledge import remove_slot
from .state import RI


@kernel
def learn_and_forget(alive, kind, n, t, klen, cap, abil, expt, ih, res_slot):
    forget_ri = t % 2 == 0
    forgotten = 0
    for i in range(n):
        if not alive[i]:
            continue
        forget = kind[i] != RI or forget_ri
        k = 0
        while k < klen[i]:
            if ih[i, k]:
                if expt[i, k] < 10:
                    expt[i, k] += 1
            elif forget:
                expt[i, k] -= 1
                if expt[i, k] <= 0:
                    if res_slot[i] == k:  # the researched triple is forgotten (also when it is the last slot)
                        res_slot[i] = -1
                    elif res_slot[i] == klen[i] - 1:  # the last triple moves into slot k
                        res_slot[i] = k
                    remove_slot(i, k, klen, cap, abil, expt, ih)
                    forgotten += 1
                    continue  # the slot now holds the former last triple
            k += 1
    return forgotten
