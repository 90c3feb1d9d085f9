"""One LWS group's vLLM engine: continuous batching on a fixed time step.

The model follows vLLM's V1 scheduler closely enough for autoscaling questions (who
waits, for how long, what the leader's metrics say), with every parameter from a
:class:`~simulations.profile.ServingProfile`:

- **Admission** (FIFO, head-of-line): a waiting request enters the batch when a slot is
  free (``max_num_seqs``) and the KV cache can reserve its whole prompt; otherwise it and
  everything behind it wait. vLLM allocates a prompt's blocks chunk by chunk as it
  computes them (and preempts when it runs out); reserving up front admits a little
  later under KV pressure and never preempts for a prompt. Only what is computed is
  *held*: the exported ``vllm:kv_cache_usage_perc``, the decode step's KV term and the
  count of decoding sequences leave out the prompts not yet computed (admitted behind
  others, 20 prompts of 2,000 tokens reserve 40,000 tokens but hold 10,000 half a
  second in at 20,000 tokens/s). A slot freed at f is reused from f in the next step, and its
  request decodes from its first token, even one before that step; a slot is reused once
  a step at most (a finish before the start of the step playing it frees it at that start).
- **Prefill** computes prompts one after another on the group's prefill timeline at
  ``prefill_tokens_per_second`` times the share of each engine step that chunked prefill
  gets (the ``max_num_batched_tokens`` budget minus one token per decoding sequence).
  As in vLLM's V1 scheduler, a request is *scheduled*, which ends its queue wait
  (``vllm:request_queue_time_seconds``), in the first step with budget left after the
  prompts ahead of it: up to one step before they are all computed. Its first token
  comes when its own prompt is computed.
- **Decode**: every running sequence gains one token per iteration; an iteration takes
  ``decode.step_seconds(running, kv_tokens)`` and the time prefill took in this step is
  not available to decode. The KV cache grows by one token per generated token; when it
  overflows, the most recently admitted sequences are preempted (recomputed later), as
  vLLM's ``RECOMPUTE`` preemption does. After a step, ``finishes`` predicts when the
  decoding sequences end at that step's pace, for the gateway's per-arrival loads.

Times inside a step are continuous (arrival, prefill start, first token, finish), so a
0.5 s step still measures a 1 s queue-wait SLO precisely. The request ledger is shared
by all groups (:mod:`simulations.ledger`); a group holds only request ids.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from autoscaler.signals import VLLM_QUEUE_TIME_BUCKETS, VLLM_TTFT_BUCKETS
from simulations.ledger import Outcome, RequestLog
from simulations.profile import ServingProfile
from simulations.traces import IntArray

# vLLM 0.33 default buckets of vllm:time_to_first_token_seconds (vllm/v1/metrics/buckets.py).
TTFT_BUCKETS = VLLM_TTFT_BUCKETS
_BOUNDS = np.asarray(TTFT_BUCKETS)
# ... and of vllm:request_queue_time_seconds (the request-latency buckets).
QUEUE_TIME_BUCKETS = VLLM_QUEUE_TIME_BUCKETS
_QUEUE_BOUNDS = np.asarray(QUEUE_TIME_BUCKETS)
_EMPTY_I = np.empty(0, dtype=np.int64)
_EMPTY_F = np.empty(0, dtype=np.float64)
# The ufunc reduction behind ndarray.sum, called directly: the method goes through a
# Python wrapper (numpy/_core/_methods.py) that cost more than the reduction on these
# arrays of a few hundred sequences. The same ufunc, so the same sums to the bit. (For
# "any", np.count_nonzero is the fastest test, and the count is often wanted too.)
_sum = np.add.reduce
# The rows of ``GroupEngine.seqs``: one column per running sequence, so that admitting
# and removing sequences is one array operation, not one per field.
_FIELDS = 6
_REMAINING, _CONTEXT, _PROMPT, _FIRST, _START, _COMPUTED = range(_FIELDS)


@dataclass
class LeaderCounters:
    """Cumulative counters the leader exports (they restart at 0 with a new group)."""

    prompt_tokens: float = 0.0
    generation_tokens: float = 0.0
    preemptions: int = 0
    successes: int = 0
    ttft_buckets: IntArray = field(default_factory=lambda: np.zeros(len(TTFT_BUCKETS) + 1, int))
    ttft_sum: float = 0.0
    queue_buckets: IntArray = field(
        default_factory=lambda: np.zeros(len(QUEUE_TIME_BUCKETS) + 1, int)
    )
    queue_sum: float = 0.0


class _Row:
    """A per-sequence field of :class:`GroupEngine`: one row of its ``seqs``."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __get__(self, engine: GroupEngine, owner: object = None) -> NDArray[np.float64]:
        row: NDArray[np.float64] = engine.seqs[self.index]  # a view: writes go to seqs
        return row


class GroupEngine:
    """The vLLM engine of one ready group (leader + workers act as one engine)."""

    def __init__(
        self, index: int, profile: ServingProfile, log: RequestLog, born: float = 0.0
    ) -> None:
        self.index, self.profile, self.log = index, profile, log
        self.born = born  # the group's creation time: a re-created index is a new engine
        self.waiting: deque[int] = deque()
        self.ids = _EMPTY_I
        self.seqs = np.empty((_FIELDS, 0))  # the running sequences: see the fields below
        self.freed: list[float] = []  # when last step's finished slots free up, ascending
        self._fresh = 0  # how many running sequences were admitted before this step
        self.finishes = _EMPTY_F  # predicted finish times of decoding sequences, ascending
        self.prefill_until = -np.inf
        self.busy_since = -np.inf  # when the prefill timeline last went from idle to busy
        self.resume: dict[int, float] = {}  # preempted id -> remaining tokens
        self.counters = LeaderCounters()
        self.draining_until: float | None = None

    # -- the running sequences' fields: rows of ``seqs`` (views) ----------------------
    remaining = _Row(_REMAINING)  # tokens still to generate
    context = _Row(_CONTEXT)  # tokens reserved in the KV cache (prompt + generated)
    prompt = _Row(_PROMPT)  # tokens computed on admission (a preempted one's output too)
    first = _Row(_FIRST)  # first-token time: when the prompt is computed
    start = _Row(_START)  # when it was first scheduled
    computed = _Row(_COMPUTED)  # when its prompt's compute began (after those before it)

    # -- load, as the router and the metrics see it --------------------------------
    @property
    def outstanding(self) -> int:
        return len(self.waiting) + len(self.ids)

    def waiting_at(self, now: float) -> int:
        """vLLM's num_requests_waiting: queued, plus admitted but not yet scheduled."""
        return len(self.waiting) + int(np.count_nonzero(self.start > now))

    def running_at(self, now: float) -> int:
        return len(self.ids) - int(np.count_nonzero(self.start > now))

    def held_kv(self, now: float) -> float:
        """KV tokens held at ``now``: the reservations less the prompt tokens not yet
        computed (a prompt is computed evenly from ``computed`` to ``first``)."""
        seqs = self.seqs
        held = float(_sum(seqs[_CONTEXT]))
        # Prompts are computed one after another on the prefill timeline, so all of them
        # are by ``prefill_until`` (the usual case once a batch runs): no scan needed.
        if now >= self.prefill_until or not len(self.ids):
            return held
        first = seqs[_FIRST]
        span = np.maximum(first - seqs[_COMPUTED], 1e-12)
        # np.minimum/np.maximum, not np.clip: the same values, without np.clip's Python
        # wrapper, which cost more than the arithmetic on these short arrays.
        pending = np.minimum(np.maximum((first - now) / span, 0.0), 1.0) * seqs[_PROMPT]
        return held - float(_sum(pending))

    def kv_usage(self, now: float) -> float:
        return self.held_kv(now) / self.profile.kv_cache_tokens

    def enqueue(self, rid: int) -> None:
        self.waiting.append(rid)

    # -- one step ------------------------------------------------------------------
    def step(self, t0: float, t1: float) -> None:
        self._fresh, self.finishes = len(self.ids), _EMPTY_F
        self._admit(t0)
        if len(self.ids):
            self._decode(t0, t1)

    def _full_step(self, running: int, kv: float) -> tuple[float, float]:
        """(wall seconds of an engine step that fills its token budget, the share of it
        chunked prefill gets): budget 8192 tokens, 100 sequences decoding at 14 ms/step,
        20k tokens/s -> 8092/20000 = 0.405 s of prefill in a 0.419 s step, share 0.97."""
        p = self.profile
        prefill = max(1, p.max_num_batched_tokens - running) / p.prefill_tokens_per_second
        step = prefill + p.decode.step_seconds(running, kv)
        return step, prefill / step

    def _admit(self, t0: float) -> None:
        p, log = self.profile, self.log
        free = p.max_num_seqs - len(self.ids)
        if not self.waiting or free <= 0:
            return
        kv = float(_sum(self.context))  # reserved: what admission must fit into
        if t0 >= self.prefill_until:
            decoding = len(self.ids)
        else:
            decoding = int(np.count_nonzero(self.first <= t0))
        step, share = self._full_step(decoding, self.held_kv(t0))
        rate = p.prefill_tokens_per_second * share
        unused = free - len(self.freed)  # slots free since before this step
        new_ids: list[int] = []
        new_seqs: list[tuple[float, ...]] = []  # columns of ``seqs``, in its row order
        while self.waiting and free > 0:
            rid = self.waiting[0]
            remaining = self.resume.get(rid)
            generated = 0.0 if remaining is None else log.output[rid] - 1 - remaining
            need = float(log.prompt[rid]) + generated
            if kv + need > p.kv_cache_tokens:
                break  # head-of-line: vLLM's FCFS waits for KV space
            self.waiting.popleft()
            if unused > 0:
                # Free before this step, yet the request was not admitted then: it could
                # not start before t0 (it arrived in this step, or waited for KV space).
                unused -= 1
                slot = t0
            else:
                slot = self.freed.pop(0)
            free -= 1
            begin = max(float(log.routed[rid]), slot)
            compute = max(begin, self.prefill_until)
            if compute == begin:
                self.busy_since = begin
            else:
                begin = self._scheduled(max(begin, self.prefill_until - step), step)
            self.prefill_until = compute + need / rate
            kv += need
            if remaining is None:
                log.started[rid] = begin
                remaining = float(log.output[rid] - 1)
            else:
                del self.resume[rid]
            new_ids.append(rid)
            # At admission, a reservation is the prompt to compute.
            new_seqs.append((remaining, need, need, self.prefill_until, begin, compute))
        self.freed.clear()
        if new_ids:
            self.ids = np.concatenate((self.ids, np.asarray(new_ids, dtype=np.int64)))
            self.seqs = np.concatenate((self.seqs, np.array(new_seqs).T), axis=1)

    def _scheduled(self, earliest: float, step: float) -> float:
        """The first step boundary of the busy prefill timeline at or after ``earliest``.

        vLLM's scheduler gives each step ``max_num_batched_tokens``: a waiting request is
        scheduled (its queue time ends) in the first step with budget left after the
        prompts ahead of it, one full step before they are all computed. Budget 8192 at
        20,000 tokens/s: steps of 0.41 s; with 12,000 tokens ahead since 0, the request
        is scheduled at 0.41 s, where the sequential timeline starts it at 0.6 s."""
        k = math.ceil((earliest - self.busy_since) / step - 1e-9)
        return min(self.prefill_until, self.busy_since + max(0, k) * step)

    def _decode(self, t0: float, t1: float) -> None:
        p, log, dt = self.profile, self.log, t1 - t0
        kv = self.held_kv(0.5 * (t0 + t1))  # decode reads what is held, mid-step
        seqs = self.seqs
        first = seqs[_FIRST]
        # ``prefill_until`` is the latest first token of all (prompts are computed in
        # admission order), so no scan is needed once it is past: before t1, every
        # sequence decodes; by t0, no prefill interval reaches into the step (each term
        # of ``busy`` is 0).
        past = self.prefill_until < t1
        decoding = len(self.ids) if past else int(np.count_nonzero(first < t1))
        # Prefill wall time inside the step: the sequences' prefill intervals do not overlap.
        if self.prefill_until <= t0:
            busy = 0.0
        else:
            busy = float(
                _sum(np.maximum(np.minimum(first, t1) - np.maximum(seqs[_COMPUTED], t0), 0.0))
            )
        _, share = self._full_step(decoding, kv)
        decode_time = max(0.0, dt - min(busy, dt) * share)
        iteration = p.decode.step_seconds(max(decoding, 1), kv)
        iterations = decode_time / iteration
        if iterations <= 0:
            return
        wall = dt / iterations  # wall seconds per decode iteration in this step
        # One admitted now into a slot freed in the last step decodes from its first token.
        since = np.maximum(first, t0)
        since[self._fresh :] = first[self._fresh :]
        available = np.maximum((t1 - since) / wall, 0.0)
        remaining = seqs[_REMAINING]
        tokens = np.minimum(available, remaining)
        remaining -= tokens  # in place, in ``seqs``
        seqs[_CONTEXT] += tokens
        c = self.counters
        c.generation_tokens += float(_sum(tokens))
        out = first <= t1  # the sequences whose first token is out by t1
        new_first = out & np.isnan(log.first_token[self.ids])
        announced = np.count_nonzero(new_first)
        if announced:
            # The first token is generated by the prefill step itself. vLLM counts a
            # request's prompt tokens in the same iteration (IterationStats, while
            # prefilling), not when it is admitted: 250 prompts of 2,000 tokens admitted
            # at once would otherwise show 500,000 tokens while 38,000 are computed.
            c.generation_tokens += float(announced)
            ids = self.ids[new_first]
            c.prompt_tokens += float(_sum(log.prompt[ids]))
            firsts = first[new_first]
            log.first_token[ids] = firsts
            ttft = firsts - log.routed[ids]
            np.add.at(c.ttft_buckets, _BOUNDS.searchsorted(ttft, side="left"), 1)
            c.ttft_sum += float(_sum(ttft))
        done = (remaining <= 1e-9) & out
        served = np.count_nonzero(done)
        if served:
            finish = since[done] + tokens[done] * wall
            finished = self.ids[done]
            log.finished[finished] = finish
            log.outcome[finished] = Outcome.SERVED
            c.successes += int(served)
            # vLLM observes a request's queue time (engine arrival to first scheduling)
            # when the request finishes, not when it starts: the histogram lags the queue
            # by the requests' generation time.
            queued = log.started[finished] - log.routed[finished]
            np.add.at(c.queue_buckets, _QUEUE_BOUNDS.searchsorted(queued, side="left"), 1)
            c.queue_sum += float(_sum(queued))
            # One finishing before t0 frees its slot at t0: a slot is reused once a step.
            self.freed = sorted(np.maximum(finish, t0).tolist())
            self._keep(~done)
        self._preempt_overflow()
        finishes = t1 + self.remaining[self.first <= t1] * wall
        finishes.sort()  # in place: a new array, and np.sort's wrapper costs more here
        self.finishes = finishes

    def _preempt_overflow(self) -> None:
        """KV full: recompute-preempt the newest sequences until the rest fit."""
        total = float(_sum(self.context))
        n = len(self.ids)
        while n and total > self.profile.kv_cache_tokens:
            n -= 1
            total -= float(self.context[n])
            rid = int(self.ids[n])
            self.resume[rid] = float(self.remaining[n])
            self.waiting.appendleft(rid)
            self.counters.preemptions += 1
        if n < len(self.ids):
            self._keep(slice(0, n))

    def _keep(self, which: NDArray[np.bool_] | slice) -> None:
        """Keep only the running sequences ``which`` selects, in every per-sequence array."""
        if isinstance(which, slice):
            self.ids, self.seqs = self.ids[which], self.seqs[:, which]
        else:  # compress: the same columns as a boolean index, in less time
            self.ids, self.seqs = self.ids.compress(which), self.seqs.compress(which, axis=1)

    def fail_all(self, now: float) -> int:
        """The group is gone: everything it held fails. Returns how many."""
        lost = np.concatenate((self.ids, np.fromiter(self.waiting, dtype=np.int64)))
        self.log.outcome[lost] = Outcome.FAILED
        self.log.finished[lost] = now
        self.waiting.clear()
        self._keep(slice(0, 0))
        self.finishes = _EMPTY_F
        return len(lost)
