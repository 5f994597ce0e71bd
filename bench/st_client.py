"""A minimal Streamlit protocol client: one page load over the app's own websocket, no browser.

What a browser tab does on load, without drawing it: open ``/_stcore/stream`` (subprotocol
``streamlit``, the login cookie in the handshake, as a returning user's browser sends it), ask
for one run of a page (``BackMsg.rerun_script`` with the page's URL path), and read the
``ForwardMsg`` stream the server sends. Times are seconds from opening the socket to the first
chart element sent and to ``script_finished``. What it does not measure is the browser's own
work (parsing the bundle, Vega-Lite drawing the chart): ``bench_load.py`` measures that in the
same run with real Chromium at a concurrency the machine's two cores can hold.

Errors of a load: an exception element, the login form instead of the page, a page the server
does not know, or no run finished within the timeout.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

CHARTS = frozenset({"vega_lite_chart", "plotly_chart", "deck_gl_json_chart", "graphviz_chart", "echarts_chart"})


@dataclass
class Load:
    """One page load: seconds to the first chart and to the end of the run, or an error."""

    chart: float | None = None
    done: float | None = None
    error: str = ""


def stream_url(url: str) -> str:
    """The websocket of a server at ``http://host:port/``."""
    return url.replace("http://", "ws://", 1).rstrip("/") + "/_stcore/stream"


async def load(url: str, page: str, cookie: str, timeout_s: float) -> Load:
    """Open ``page`` (its URL path, '' for the default page) as a new session; see the module doc."""
    out = Load()
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            headers = {"Cookie": cookie} if cookie else None
            async with websockets.connect(
                stream_url(url), subprotocols=["streamlit"], additional_headers=headers, max_size=None
            ) as ws:
                msg = BackMsg()
                msg.rerun_script.query_string = ""
                msg.rerun_script.page_name = page
                await ws.send(msg.SerializeToString())
                async for raw in ws:
                    fwd = ForwardMsg()
                    fwd.ParseFromString(raw if isinstance(raw, bytes) else raw.encode())
                    kind = fwd.WhichOneof("type")
                    if kind == "page_not_found":
                        out.error = f"page not found: {page!r}"
                    elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                        element = fwd.delta.new_element
                        etype = element.WhichOneof("type")
                        if etype in CHARTS and out.chart is None:
                            out.chart = time.perf_counter() - t0
                        elif etype == "exception" and not out.error:
                            out.error = "exception: " + " ".join(element.exception.message.split())[:120]
                        elif etype == "text_input" and element.text_input.label == "Username" and not out.error:
                            out.error = "login form instead of the page"
                    elif kind == "script_finished":
                        if fwd.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                            continue  # the page asked for a rerun (st.rerun): its next run follows
                        if fwd.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                            out.error = out.error or "the page did not compile"
                        out.done = time.perf_counter() - t0
                        break
    except TimeoutError:
        out.error = out.error or f"no run finished within {timeout_s:.0f} s"
    except (OSError, websockets.WebSocketException) as exc:
        out.error = out.error or f"connection failed: {type(exc).__name__}"
    if not out.error and out.chart is None:
        out.error = "run finished without a chart"
    return out
