"""CCR (compress-cache-retrieve): originals of lossy compressions, their markers and the retrieval tool."""
