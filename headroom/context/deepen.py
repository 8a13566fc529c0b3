"""Compress-first: before any message is dropped, re-run the pipeline's compression at depth 2 on the client's
original blocks and keep, block by block, whichever form is smaller.

The deeper forms live in their own conversation memory (`<conversation>:deep`), so a block compressed deeper in
turn N is sent in that same form in turn N+1, as the pipeline guarantees for the normal pass.
"""

from __future__ import annotations

from headroom.ccr import markers
from headroom.pipeline.pipeline import OptimizeResult, Pipeline
from headroom.providers.base import JSONObject, Provider

DEEP_SUFFIX = ":deep"
DEEP_DEPTH = 2


def compress_deeper(
    pipeline: Pipeline,
    provider: Provider,
    body: JSONObject,
    original: JSONObject,
    tenant: str,
    conversation: str,
    optimized: OptimizeResult,
) -> bool:
    """Patch `body`'s blocks with their depth-2 forms where smaller; True if any block changed."""
    pipeline.optimize(provider, original, tenant=tenant, conversation=conversation + DEEP_SUFFIX, depth=DEEP_DEPTH)
    current = provider.blocks(body)
    deeper = provider.blocks(original)
    if len(current) != len(deeper):
        return False
    changed = False
    for block, deep in zip(current, deeper, strict=True):
        if len(deep.text) >= len(block.text):
            continue
        optimized.tokens_after += pipeline.tokens(deep.text) - pipeline.tokens(block.text)
        block.set_text(deep.text)
        changed = True
        optimized.ccr_hashes.extend(h for h in markers.hashes_in(deep.text) if h not in optimized.ccr_hashes)
        optimized.has_markers = optimized.has_markers or markers.RETRIEVE_TOOL in deep.text
    if changed:
        optimized.changed = True
        optimized.transforms.append(f"context:depth{DEEP_DEPTH}")
    return changed
