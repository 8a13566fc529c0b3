"""CLI table compressor on kubectl output: header and standing-out rows kept verbatim, the rest counted; kubectl
describe output keeps its health facts and distinct warnings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from headroom.accounting.tokens import count_tokens
from headroom.pipeline.describe_compressor import DescribeCompressor
from headroom.pipeline.detect import detect_kind, split_preamble
from headroom.pipeline.table_compressor import TableCompressor
from headroom.pipeline.types import CompressionContext, ContentKind

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


@pytest.mark.parametrize("payload_id", ["kubectl_get_pods_all_ns", "kubectl_get_pods_default_ns"])
def test_kubectl_get_keeps_needles_and_shrinks(payload_id: str) -> None:
    meta = json.loads((CORPUS / "cli_output" / f"{payload_id}.meta.json").read_text(encoding="utf-8"))
    text = (CORPUS / "cli_output" / meta["payload_file"]).read_text(encoding="utf-8")
    body = split_preamble(text)[1]
    ctx = CompressionContext(query=meta["question"])
    result = TableCompressor().compress(body, ctx)
    assert result is not None and not result.lossless
    assert all(needle in result.text for needle in meta["needles"])
    assert "STATUS: Running" in result.text
    assert count_tokens(result.text) < 0.8 * count_tokens(body)
    assert TableCompressor().compress(body, ctx) == result


def _pods(n: int) -> str:
    rows = ["NAME                 READY   STATUS    RESTARTS   AGE"]
    rows += [f"web-{i:04d}             1/1     Running   0          3d" for i in range(n)]
    rows.insert(40, "db-0                 0/1     Error     7          3d")
    return "\n".join(rows)


def test_rows_that_stand_out_are_kept() -> None:
    result = TableCompressor().compress(_pods(200), CompressionContext())
    assert result is not None
    assert "db-0                 0/1     Error     7          3d" in result.text
    assert result.text.startswith("NAME ")
    assert "[… 39 rows omitted] (STATUS: Running 39)" in result.text


def test_query_rows_are_kept() -> None:
    result = TableCompressor().compress(_pods(200), CompressionContext(query="what about web-0150?"))
    assert result is not None and "web-0150" in result.text


@pytest.mark.parametrize("text", ["", "NAME READY\n", "a  b  c\n1  2  3\n", "ü" * 10_000, _pods(3)])
def test_small_or_odd_input_returns_none(text: str) -> None:
    assert TableCompressor().compress(text, CompressionContext()) is None


def test_kubectl_describe_node_keeps_needles_and_shrinks() -> None:
    meta = json.loads((CORPUS / "cli_output" / "kubectl_describe_node.meta.json").read_text(encoding="utf-8"))
    text = (CORPUS / "cli_output" / meta["payload_file"]).read_text(encoding="utf-8")
    body = split_preamble(text)[1]
    ctx = CompressionContext(query=meta["question"])
    result = TableCompressor().compress(body, ctx)
    assert result is not None and not result.lossless and result.transform == "table_describe"
    assert all(needle in result.text for needle in meta["needles"])
    assert "Conditions:" in result.text and "KubeletReady" in result.text
    assert "Machine ID:" not in result.text
    assert count_tokens(result.text) < 0.3 * count_tokens(body)
    assert TableCompressor().compress(body, ctx) == result


_EVENT_NORMAL = '  Normal   Pulled     {age:22}kubelet  Successfully pulled image "bash" in {n}ms'
_EVENT_BACKOFF = "  Warning  BackOff    {age:22}kubelet  Back-off restarting failed container app"


def _describe_pod() -> str:
    events = []
    for i in range(60):
        template = _EVENT_BACKOFF if i % 10 == 3 else _EVENT_NORMAL
        events.append(template.format(age=f"{120 - i}m (x{i + 2} over 2h)", n=i + 2))
    events.insert(30, '  Warning  Failed     50m                   kubelet  Error: secret "db-pass" not found')
    labels = "\n".join(f"                  label-{i}=value-{i}" for i in range(30))
    return f"""Name:             web-7d9c
Namespace:        shop
Labels:           app=web
{labels}
Status:           Running
Containers:
  web:
    Container ID:  containerd://0a1b2c3d4e5f
    Image:         shop/web:1.4.2
    Command:
      /bin/sh
    Args:
      -c
      exec web --port 8080 --config /etc/web/config.yaml
    State:          Waiting
      Reason:       CrashLoopBackOff
    Last State:     Terminated
      Exit Code:    3
    Limits:
      memory:  256Mi
    Mounts:
      /var/run/secrets/kubernetes.io/serviceaccount from kube-api-access (ro)
      /etc/web from config (ro)
Conditions:
  Type              Status
  Initialized       True
  Ready             False
Events:
  Type     Reason     Age                   From     Message
  ----     ------     ----                  ----     -------
""" + "\n".join(events)


def test_kubectl_describe_pod_keeps_state_args_and_distinct_warnings() -> None:
    text = _describe_pod()
    result = TableCompressor().compress(text, CompressionContext(query="why is web crashing?"))
    assert result is not None and result.transform == "table_describe"
    out = result.text
    for kept in (
        "Image:         shop/web:1.4.2",
        "exec web --port 8080",
        "Reason:       CrashLoopBackOff",
        "Exit Code:    3",
        "memory:  256Mi",
        "Ready             False",
        'Error: secret "db-pass" not found',
    ):
        assert kept in out, kept
    assert out.count("Back-off restarting failed container app") == 1
    assert "(x55 over 2h)" in out  # the latest of the repeated warning
    assert "label-17=value-17" not in out and "Container ID:" not in out and "kube-api-access (ro)" not in out
    assert "rows omitted] (Normal" in out
    assert count_tokens(out) < 0.4 * count_tokens(text)


def test_kubectl_describe_keeps_rows_the_query_names() -> None:
    text = _describe_pod()
    result = TableCompressor().compress(text, CompressionContext(query="how long did pulling take in 41ms?"))
    assert result is not None and "in 41ms" in result.text
    assert detect_kind(text) is ContentKind.TABLE


@pytest.mark.parametrize(
    "text",
    ["", "Name:  x\nStatus:  Running\n", "Events:\n  Type  Reason\n", "Conditions:\n  Type\n" * 50, "ü" * 5_000],
)
def test_describe_odd_input_does_not_crash(text: str) -> None:
    result = DescribeCompressor().compress(text, CompressionContext(query="status?"))
    assert result is None or len(result.text) < len(text)
