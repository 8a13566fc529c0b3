"""TOIN: learning which tool outputs the model needs back, and keep-rules for compression."""
