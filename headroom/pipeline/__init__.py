"""Compression pipeline: content detection, routing and one compressor per content kind."""
