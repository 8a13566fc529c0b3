"""The round loop shared by the three stream splicers: answer a round's retrieval calls and open the next round.

Each provider's splicer rewrites events; this base decides whether another upstream round follows (the round
asked only for retrievals, did not fail, and the round budget is not spent) and opens it with the provider's
follow-up request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from headroom.ccr.followup import FollowupFormat, RetrievalCall
from headroom.providers.base import JSONObject

OpenFollowup = Callable[[JSONObject], Awaitable[httpx.Response]]
Answer = Callable[[RetrievalCall], Awaitable[str]]


class RoundSplicer:
    """Counts rounds and retrievals; opens follow-up rounds for a provider's follow-up format."""

    def __init__(
        self,
        request: JSONObject,
        open_followup: OpenFollowup,
        answer: Answer,
        max_rounds: int,
        followup_format: FollowupFormat,
    ) -> None:
        self._request = request
        self._open = open_followup
        self._answer = answer
        self._max_rounds = max_rounds
        self._format = followup_format
        self.rounds = 0
        self.retrievals = 0

    def _may_follow(self, calls: list[RetrievalCall], *, errored: bool, client_tools: bool) -> bool:
        """Whether a finished round (already counted) should be answered with another upstream round."""
        return bool(calls) and not errored and not client_tools and self.rounds <= self._max_rounds

    async def _followup(self, answered: JSONObject, calls: list[RetrievalCall]) -> httpx.Response | None:
        """Answer the calls, open the next round; None when upstream refused it (the client keeps this round)."""
        answers = {call.call_id: await self._answer(call) for call in calls}
        self.retrievals += len(calls)
        self._request = self._format.followup(self._request, answered, answers)
        response = await self._open(self._request)
        if response.status_code != 200:
            await response.aclose()
            return None
        return response
