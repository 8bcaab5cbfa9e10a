"""A small client of `tandem serve` (docs/SERVE.md), Python standard library only.

    from tandem_client import Client, TandemError
    users = Client("http://127.0.0.1:8080").collection("users")
    users.put({"id": 42}, {"email": "a@example.com", "name": "Ada"})
    record = users.get({"id": 42})          # a dict, or None
    users.patch({"id": 42}, {"name": "Ada L."})
    users.delete({"id": 42})

    admin = Client("http://127.0.0.1:8080", admin_token=open("token").read().strip())
    admin.admin("POST", "step", {"action": "next", "reason": "dual-write"})

Every error is a TandemError with the server's code, message, retryable and
outcome_unknown (the write may or may not have taken effect: read before
repeating a write that is not idempotent). One keep-alive connection per
Client; use one Client per thread.
"""
import http.client
import json
import urllib.parse


class TandemError(Exception):
    def __init__(self, status, body):
        self.status = status
        self.code = body.get("code", "Unknown")
        self.message = body.get("message", "")
        self.retryable = bool(body.get("retryable", False))
        self.outcome_unknown = bool(body.get("outcome_unknown", False))
        super().__init__(f"{status} {self.code}: {self.message}")


class ConnectionLost(TandemError):
    """The connection failed mid-request: the outcome is unknown."""

    def __init__(self, what):
        super().__init__(0, {"code": "ConnectionLost", "message": what, "retryable": True, "outcome_unknown": True})


def key_path(key_values):
    """The path segment of a key: its columns in key order, each percent-encoded, joined by ','."""
    return ",".join(urllib.parse.quote(str(v), safe="") for v in key_values)


class Client:
    def __init__(self, base_url, admin_token=None, timeout=30):
        url = urllib.parse.urlsplit(base_url)
        self._host, self._port = url.hostname, url.port or (443 if url.scheme == "https" else 80)
        self._https = url.scheme == "https"
        self._timeout = timeout
        self._admin_token = admin_token
        self._conn = None
        self._schemas = None

    def _connection(self):
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self._timeout)
        return self._conn

    def request(self, method, path, body=None, headers=None, raw=False):
        """(status, parsed JSON or text). Raises ConnectionLost if the connection failed."""
        data = None if body is None else json.dumps(body).encode()
        h = {"Content-Type": "application/json"} if data is not None else {}
        h.update(headers or {})
        try:
            conn = self._connection()
            conn.request(method, path, body=data, headers=h)
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as e:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            raise ConnectionLost(f"{method} {path}: {e}") from e
        if raw:
            return response.status, payload.decode()
        return response.status, (json.loads(payload) if payload else None)

    def _call(self, method, path, body=None, ok=(200,), headers=None):
        status, parsed = self.request(method, path, body, headers)
        if status not in ok:
            raise TandemError(status, parsed or {})
        return status, parsed

    def collections(self):
        if self._schemas is None:
            _, out = self._call("GET", "/v1/collections")
            self._schemas = {c["name"]: c for c in out["collections"]}
        return self._schemas

    def collection(self, name):
        return Collection(self, name)

    def admin(self, method, command, body=None, ok=(200, 202)):
        headers = {"Authorization": f"Bearer {self._admin_token}"} if self._admin_token else {}
        return self._call(method, f"/admin/v1/{command}", body, ok=ok, headers=headers)[1]

    def metrics(self):
        """The /metrics exposition parsed: {(name, frozenset(labels.items())): value}."""
        status, text = self.request("GET", "/metrics", raw=True)
        if status != 200:
            raise TandemError(status, {"message": text})
        return parse_metrics(text)


class Collection:
    def __init__(self, client, name):
        self._client = client
        self.name = name
        self._key_columns = client.collections()[name]["key"]

    def _path(self, key):
        values = [key[c] for c in self._key_columns]
        return f"/v1/collections/{urllib.parse.quote(self.name)}/records/{key_path(values)}"

    def get(self, key):
        status, parsed = self._client.request("GET", self._path(key))
        if status == 404 and parsed and parsed.get("code") == "NotFound" and "no record" in parsed.get("message", ""):
            return None
        if status != 200:
            raise TandemError(status, parsed or {})
        return parsed

    def put(self, key, fields):
        return self._client._call("PUT", self._path(key), dict(fields))[1]

    def patch(self, key, fields):
        return self._client._call("PATCH", self._path(key), dict(fields))[1]

    def delete(self, key):
        self._client._call("DELETE", self._path(key))

    def scan(self, start=None, end=None, limit=500):
        """Every record with a key in [start, end) (key dicts; None: unbounded), page by page."""
        params = [f"limit={limit}"]
        if start is not None:
            params.append("from=" + key_path([start[c] for c in self._key_columns]))
        if end is not None:
            params.append("to=" + key_path([end[c] for c in self._key_columns]))
        while True:
            path = f"/v1/collections/{urllib.parse.quote(self.name)}/records?" + "&".join(params)
            page = self._client._call("GET", path)[1]
            yield from page["records"]
            if page["next"] is None:
                return
            params = [p for p in params if not p.startswith(("from=", "after="))] + ["after=" + page["next"]]

    def get_many(self, keys):
        return self._client._call("POST", f"/v1/collections/{urllib.parse.quote(self.name)}/batch-get",
                                  {"keys": list(keys)})[1]["records"]


def parse_metrics(text):
    """Parses the Prometheus text format (no timestamps): {(name, frozenset(labels)): float}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, labels = head, {}
        if "{" in head:
            name, _, rest = head.partition("{")
            rest = rest.rstrip("}")
            i = 0
            while i < len(rest):
                eq = rest.index("=", i)
                label = rest[i:eq]
                j, chars = eq + 2, []
                while rest[j] != '"':
                    if rest[j] == "\\":
                        j += 1
                        chars.append({"n": "\n"}.get(rest[j], rest[j]))
                    else:
                        chars.append(rest[j])
                    j += 1
                labels[label] = "".join(chars)
                i = j + 2 if j + 1 < len(rest) and rest[j + 1] == "," else j + 1
        out[(name, frozenset(labels.items()))] = float(value)
    return out
