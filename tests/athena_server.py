"""A small Athena look-alike over real HTTP, for the ``--follow`` tests of the Athena flow.

moto's Athena never pages its results and never fails a query, so the tests start this
``http.server`` on loopback instead: it speaks Athena's JSON 1.1 protocol
(``X-Amz-Target: AmazonAthena.<Operation>``) for ``StartQueryExecution``,
``GetQueryExecution``, ``GetQueryResults`` and ``StopQueryExecution``, in the shapes of
the Athena API reference; and the same operations over REST JSON (``POST
/query-executions``, ``GET /query-executions/<id>[/results]``, ``POST
/query-executions/<id>/stop``), the protocol botocore 1.44.18 speaks to Athena (the declared
minimum, 1.34, speaks JSON 1.1). Each query walks the states the test scripts for it, one state a
poll (``QUEUED``, ``RUNNING``, then ``SUCCEEDED``, ``FAILED`` with its reason, or
``CANCELLED``); a succeeded query's rows are paged ``page_size`` at a time (or fewer when
the caller's ``MaxResults`` asks so), the header row first on the first page as Athena
sends it. The real boto3 client finds it through ``AWS_ENDPOINT_URL``. Every request is
kept, so a test can say what the engine asked for.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

TARGET = "AmazonAthena."
JSON_11 = "application/x-amz-json-1.1"
DONE = {"SUCCEEDED", "FAILED", "CANCELLED"}


@dataclass
class Table:
    """What a query returns: column names and rows of text (``None`` is SQL NULL)."""

    columns: list[str]
    rows: list[list[str | None]]


@dataclass
class Script:
    """How one query goes: its states, poll after poll, and what it returns or why it failed."""

    states: list[str] = field(default_factory=lambda: ["QUEUED", "RUNNING", "SUCCEEDED"])
    table: Table | None = None
    reason: str = ""
    data_scanned: int = 0


@dataclass
class Execution:
    query_id: str
    body: dict[str, Any]
    script: Script
    polls: int = 0
    stopped: bool = False

    @property
    def state(self) -> str:
        if self.stopped:
            return "CANCELLED"
        return self.script.states[min(self.polls, len(self.script.states)) - 1] if self.polls \
            else "QUEUED"


@dataclass
class Call:
    operation: str
    body: dict[str, Any]


@dataclass
class FakeAthena:
    """The scripts of the queries to come (the n-th started query takes the n-th, the last
    one repeats), the executions so far, and every request seen."""

    scripts: list[Script] = field(default_factory=lambda: [Script()])
    page_size: int = 1000
    executions: dict[str, Execution] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, operation: str) -> list[Call]:
        return [c for c in self.calls if c.operation == operation]

    def answer(self, operation: str, body: dict) -> tuple[int, dict]:
        with self.lock:
            self.calls.append(Call(operation, body))
            handler = getattr(self, f"_{operation}", None)
            if handler is None:
                return 400, {"__type": "UnknownOperationException", "Message": operation}
            return handler(body)

    def _StartQueryExecution(self, body: dict) -> tuple[int, dict]:  # noqa: N802 (API name)
        script = self.scripts[min(len(self.executions), len(self.scripts) - 1)]
        query_id = str(uuid.uuid4())
        self.executions[query_id] = Execution(query_id, body, script)
        return 200, {"QueryExecutionId": query_id}

    def _execution(self, body: dict) -> Execution | tuple[int, dict]:
        execution = self.executions.get(body.get("QueryExecutionId", ""))
        if execution is None:
            return 400, {"__type": "InvalidRequestException", "AthenaErrorCode": "INVALID_INPUT",
                         "Message": f"QueryExecution {body.get('QueryExecutionId')} was not found"}
        return execution

    def _GetQueryExecution(self, body: dict) -> tuple[int, dict]:  # noqa: N802
        execution = self._execution(body)
        if not isinstance(execution, Execution):
            return execution
        if execution.state not in DONE:
            execution.polls += 1
        state = execution.state
        now = datetime.now(UTC).timestamp()
        status: dict[str, Any] = {"State": state, "SubmissionDateTime": now}
        if state in DONE:
            status["CompletionDateTime"] = now
        if state == "FAILED":
            status["StateChangeReason"] = execution.script.reason
            status["AthenaError"] = {"ErrorCategory": 2, "ErrorType": 1301, "Retryable": False,
                                     "ErrorMessage": execution.script.reason}
        elif state == "CANCELLED":
            status["StateChangeReason"] = "Query was cancelled by the user"
        request = execution.body
        answer: dict[str, Any] = {
            "QueryExecutionId": execution.query_id, "Query": request["QueryString"],
            "StatementType": "DML", "Status": status,
            "WorkGroup": request.get("WorkGroup", "primary"),
            "QueryExecutionContext": request.get("QueryExecutionContext", {}),
            "ResultConfiguration": request.get("ResultConfiguration", {}),
            "EngineVersion": {"SelectedEngineVersion": "AUTO",
                              "EffectiveEngineVersion": "Athena engine version 3"},
            "Statistics": {"EngineExecutionTimeInMillis": 120, "TotalExecutionTimeInMillis": 150,
                           "QueryQueueTimeInMillis": 30,
                           "DataScannedInBytes": execution.script.data_scanned
                           if state == "SUCCEEDED" else 0},
        }
        return 200, {"QueryExecution": answer}

    def _GetQueryResults(self, body: dict) -> tuple[int, dict]:  # noqa: N802
        execution = self._execution(body)
        if not isinstance(execution, Execution):
            return execution
        if execution.state != "SUCCEEDED":
            return 400, {"__type": "InvalidRequestException",
                         "AthenaErrorCode": "INVALID_INPUT",
                         "Message": f"Query has not yet finished. Current state: "
                                    f"{execution.state}"}
        table = execution.script.table or Table([], [])
        header = [list(table.columns)]
        every = header + table.rows  # the header row counts as a row of the first page
        size = min(int(body.get("MaxResults", 1000)), self.page_size)
        offset = int(body.get("NextToken", "row-0").removeprefix("row-"))
        page = every[offset:offset + size]
        answer: dict[str, Any] = {
            "UpdateCount": 0,
            "ResultSet": {
                "Rows": [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]}
                         for row in page],
                "ResultSetMetadata": {"ColumnInfo": [
                    {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": c,
                     "Label": c, "Type": "varchar", "Precision": 2147483647, "Scale": 0,
                     "Nullable": "UNKNOWN", "CaseSensitive": True} for c in table.columns]},
            },
        }
        if offset + size < len(every):
            answer["NextToken"] = f"row-{offset + size}"
        return 200, answer

    def _StopQueryExecution(self, body: dict) -> tuple[int, dict]:  # noqa: N802
        execution = self._execution(body)
        if not isinstance(execution, Execution):
            return execution
        if execution.state not in DONE:
            execution.stopped = True
        return 200, {}


def _rest(method: str, path: str, body: dict) -> tuple[str, dict] | None:
    """A REST JSON request -> (operation, the request as JSON 1.1 would carry it)."""
    url = urlsplit(path)
    parts = [unquote(p) for p in url.path.strip("/").split("/")]
    query = {k: v[-1] for k, v in parse_qs(url.query).items()}
    if "MaxResults" in query:
        query["MaxResults"] = int(query["MaxResults"])
    if parts[0] != "query-executions":
        return None
    if method == "POST" and len(parts) == 1:
        return "StartQueryExecution", body
    if len(parts) < 2:
        return None
    found = {"QueryExecutionId": parts[1], **query}
    if method == "GET" and len(parts) == 2:
        return "GetQueryExecution", found
    if method == "GET" and parts[2:] == ["results"]:
        return "GetQueryResults", found
    if method == "POST" and parts[2:] == ["stop"]:
        return "StopQueryExecution", found
    return None


def _handler(fake: FakeAthena) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            self._answer("POST")

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self._answer("GET")

        def _answer(self, method: str) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            target = self.headers.get("X-Amz-Target", "")
            kind = JSON_11
            if target.startswith(TARGET) and self.headers.get("Content-Type") == JSON_11:
                status, answer = fake.answer(target.removeprefix(TARGET),
                                             json.loads(raw or b"{}"))
            elif (rest := _rest(method, self.path, json.loads(raw or b"{}"))) is not None:
                kind = "application/json"
                status, answer = fake.answer(*rest)
            else:
                status, answer = 400, {"__type": "UnknownOperationException",
                                       "Message": f"not an Athena request: {method} "
                                                  f"{self.path} {target!r}"}
            body = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def athena_server(fake: FakeAthena) -> Iterator[str]:
    """Serve ``fake`` on a free loopback port; yields its URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
