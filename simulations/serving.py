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


class GroupEngine:
    """The vLLM engine of one ready group (leader + workers act as one engine)."""

    def __init__(
        self, index: int, profile: ServingProfile, log: RequestLog, born: float = 0.0
    ) -> None:
        self.index, self.profile, self.log = index, profile, log
        self.born = born  # the group's creation time: a re-created index is a new engine
        self.waiting: deque[int] = deque()
        self.ids = _EMPTY_I
        self.remaining = _EMPTY_F  # tokens still to generate
        self.context = _EMPTY_F  # tokens reserved in the KV cache (prompt + generated)
        self.prompt = _EMPTY_F  # prompt tokens each sequence computes on admission
        self.first = _EMPTY_F  # first-token time of each running sequence
        self.start = _EMPTY_F  # when each running sequence was first scheduled
        self.computed = _EMPTY_F  # when its prompt's compute began (after those before it)
        self.freed: list[float] = []  # when last step's finished slots free up, ascending
        self._fresh = 0  # how many running sequences were admitted before this step
        self.finishes = _EMPTY_F  # predicted finish times of decoding sequences, ascending
        self.prefill_until = -np.inf
        self.busy_since = -np.inf  # when the prefill timeline last went from idle to busy
        self.resume: dict[int, float] = {}  # preempted id -> remaining tokens
        self.counters = LeaderCounters()
        self.draining_until: float | None = None

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
        held = float(self.context.sum())
        # Prompts are computed one after another on the prefill timeline, so all of them
        # are by ``prefill_until`` (the usual case once a batch runs): no scan needed.
        if now >= self.prefill_until or not len(self.first):
            return held
        span = np.maximum(self.first - self.computed, 1e-12)
        # np.minimum/np.maximum, not np.clip: the same values, without np.clip's Python
        # wrapper, which cost more than the arithmetic on these short arrays.
        pending = np.minimum(np.maximum((self.first - now) / span, 0.0), 1.0) * self.prompt
        return held - float(pending.sum())

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
        kv = float(self.context.sum())  # reserved: what admission must fit into
        if t0 >= self.prefill_until:
            decoding = len(self.ids)
        else:
            decoding = int(np.count_nonzero(self.first <= t0))
        step, share = self._full_step(decoding, self.held_kv(t0))
        rate = p.prefill_tokens_per_second * share
        unused = free - len(self.freed)  # slots free since before this step
        new_ids: list[int] = []
        new_rem: list[float] = []
        new_ctx: list[float] = []  # at admission, a reservation is the prompt computed
        new_first: list[float] = []
        new_start: list[float] = []
        new_computed: list[float] = []
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
            new_rem.append(remaining)
            new_ctx.append(need)
            new_first.append(self.prefill_until)
            new_start.append(begin)
            new_computed.append(compute)
        self.freed.clear()
        if new_ids:
            self.ids = np.concatenate((self.ids, np.asarray(new_ids, dtype=np.int64)))
            self.remaining = np.concatenate((self.remaining, new_rem))
            self.context = np.concatenate((self.context, new_ctx))
            self.prompt = np.concatenate((self.prompt, new_ctx))
            self.first = np.concatenate((self.first, new_first))
            self.start = np.concatenate((self.start, new_start))
            self.computed = np.concatenate((self.computed, new_computed))

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
        decoding = int(np.count_nonzero(self.first < t1))
        # Prefill wall time inside the step: the sequences' prefill intervals do not overlap.
        busy = float(
            np.maximum(np.minimum(self.first, t1) - np.maximum(self.computed, t0), 0.0).sum()
        )
        _, share = self._full_step(decoding, kv)
        decode_time = max(0.0, dt - min(busy, dt) * share)
        iteration = p.decode.step_seconds(max(decoding, 1), kv)
        iterations = decode_time / iteration
        if iterations <= 0:
            return
        wall = dt / iterations  # wall seconds per decode iteration in this step
        # One admitted now into a slot freed in the last step decodes from its first token.
        since = np.maximum(self.first, t0)
        since[self._fresh :] = self.first[self._fresh :]
        available = np.maximum((t1 - since) / wall, 0.0)
        tokens = np.minimum(available, self.remaining)
        self.remaining = self.remaining - tokens
        self.context = self.context + tokens
        c = self.counters
        c.generation_tokens += float(tokens.sum())
        new_first = (self.first <= t1) & np.isnan(log.first_token[self.ids])
        if new_first.any():
            # The first token is generated by the prefill step itself. vLLM counts a
            # request's prompt tokens in the same iteration (IterationStats, while
            # prefilling), not when it is admitted: 250 prompts of 2,000 tokens admitted
            # at once would otherwise show 500,000 tokens while 38,000 are computed.
            c.generation_tokens += float(np.count_nonzero(new_first))
            ids = self.ids[new_first]
            c.prompt_tokens += float(log.prompt[ids].sum())
            log.first_token[ids] = self.first[new_first]
            ttft = self.first[new_first] - log.routed[ids]
            np.add.at(c.ttft_buckets, np.searchsorted(_BOUNDS, ttft, side="left"), 1)
            c.ttft_sum += float(ttft.sum())
        done = (self.remaining <= 1e-9) & (self.first <= t1)
        if done.any():
            finish = since[done] + tokens[done] * wall
            log.finished[self.ids[done]] = finish
            log.outcome[self.ids[done]] = Outcome.SERVED
            c.successes += int(np.count_nonzero(done))
            # vLLM observes a request's queue time (engine arrival to first scheduling)
            # when the request finishes, not when it starts: the histogram lags the queue
            # by the requests' generation time.
            finished = self.ids[done]
            queued = log.started[finished] - log.routed[finished]
            np.add.at(c.queue_buckets, np.searchsorted(_QUEUE_BOUNDS, queued, side="left"), 1)
            c.queue_sum += float(queued.sum())
            # One finishing before t0 frees its slot at t0: a slot is reused once a step.
            self.freed = sorted(np.maximum(finish, t0).tolist())
            self._keep(~done)
        self._preempt_overflow()
        self.finishes = np.sort(t1 + self.remaining[self.first <= t1] * wall)

    def _preempt_overflow(self) -> None:
        """KV full: recompute-preempt the newest sequences until the rest fit."""
        total = float(self.context.sum())
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
        self.ids, self.remaining = self.ids[which], self.remaining[which]
        self.context, self.first = self.context[which], self.first[which]
        self.prompt = self.prompt[which]
        self.start, self.computed = self.start[which], self.computed[which]

    def fail_all(self, now: float) -> int:
        """The group is gone: everything it held fails. Returns how many."""
        lost = np.concatenate((self.ids, np.fromiter(self.waiting, dtype=np.int64)))
        self.log.outcome[lost] = Outcome.FAILED
        self.log.finished[lost] = now
        self.waiting.clear()
        self._keep(slice(0, 0))
        self.finishes = _EMPTY_F
        return len(lost)
