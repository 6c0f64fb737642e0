#!/usr/bin/env python3
"""An OpenAI-compatible server that misbehaves on request, for the client's tests (standard
library only).

  fault_server.py [PORT]     (PORT 0 or none: any free port; the chosen port is the first line on stdout)

The behaviour comes from the request's "model" field, or without one from the prompt (the user
message), "NAME[:ARG[:ARG]]":
  normal:N[:DELAY_MS]  N tokens ("t0 ", "t1 ", ...), each in its own chunk, then a finish chunk, a
                       usage chunk with llama-server-like timings, and [DONE]
  die:K                K tokens, then the socket is closed mid-stream (no [DONE])
  nodone:K             K tokens and a clean end of the body, without finish_reason or [DONE]
  finish_nodone:K      K tokens and a finish_reason, a clean end, no [DONE]
  stall:K              K tokens, then nothing, forever
  malformed            one token, then a data line that is not JSON
  stream_error         one token, then {"error": {...}} in the stream (as llama-server does)
  http500 / http429    an error status with a JSON error body
  text502              an error status with a plain-text body
  slow:SECONDS         sleeps before sending anything, then streams like normal:2
  auth                 like normal:2 when "Authorization: Bearer $FAULT_SERVER_KEY" came; else 401
                       echoing what came (the client must not repeat a key it sent)
Chat requests (/chat/completions) get chat chunks, /completions requests completion chunks.
GET /models lists one model; GET /health answers 200; GET /connections the number of connections
accepted so far (to see that clients reuse them).
"""
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked bodies, as real servers do

    def log_message(self, *args):  # stdout carries the port only; stderr stays quiet
        pass

    # --- plain responses
    def send_json(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.endswith("/models"):
            self.send_json(200, {"object": "list", "data": [{"id": "fault", "object": "model", "owned_by": "fault"}]})
        elif self.path.endswith("/connections"):
            self.send_json(200, {"accepted": self.server.accepted})
        elif self.path.endswith("/health"):
            self.send_json(200, {"status": "ok"})
        else:
            self.send_json(404, {"error": {"message": "no such path: " + self.path}})

    # --- streams
    def start_stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def event(self, obj):
        self.write_chunk(b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n")

    def token(self, i):
        if self.chat:
            choice = {"index": 0, "finish_reason": None, "delta": {"content": "t%d " % i}}
        else:
            choice = {"index": 0, "finish_reason": None, "text": "t%d " % i, "logprobs": None}
        self.event({"object": "chunk", "choices": [choice]})

    def finish_stream(self, n_tokens, reason="length"):
        choice = {"index": 0, "finish_reason": reason}
        choice.update({"delta": {}} if self.chat else {"text": ""})
        self.event({"object": "chunk", "choices": [choice]})
        timings = {"prompt_n": 3, "prompt_ms": 1.0, "predicted_n": n_tokens, "predicted_ms": 2.0 * n_tokens}
        self.event({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": n_tokens,
                                             "total_tokens": 3 + n_tokens}, "timings": timings})

    def end_body(self):
        self.write_chunk(b"")

    def normal(self, n, delay_ms=0):
        self.start_stream()
        self.write_chunk(b": a comment line, as keep-alive pings are\n\n")
        for i in range(n):
            if delay_ms:
                time.sleep(delay_ms / 1000.0)
            self.token(i)
        self.finish_stream(n)
        self.event(b"[DONE]")
        self.end_body()

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        self.chat = self.path.endswith("/chat/completions")
        try:
            request = json.loads(raw)
        except ValueError:
            return self.send_json(400, {"error": {"message": "body is not JSON"}})
        expected_key = os.environ.get("FAULT_SERVER_KEY", "")
        if expected_key and expected_key.encode() in raw:
            return self.send_json(400, {"error": {"message": "the API key is in the request body"}})
        if request.get("stream") is not True or request.get("stream_options") != {"include_usage": True}:
            return self.send_json(400, {"error": {"message": "expected a stream with usage"}})
        behaviour = request.get("model") or request.get("prompt") or request["messages"][-1]["content"]
        name, *args = str(behaviour).split(":")
        self.dispatch(name, args)

    def dispatch(self, name, args):
        if name == "normal":
            self.normal(int(args[0]), int(args[1]) if len(args) > 1 else 0)
        elif name in ("die", "nodone", "finish_nodone", "stall"):
            self.start_stream()
            for i in range(int(args[0])):
                self.token(i)
            if name == "die":
                # Close without the terminating chunk: the body ends before its end.
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
            elif name == "nodone":
                self.end_body()
            elif name == "finish_nodone":
                self.finish_stream(int(args[0]), "stop")
                self.end_body()
            else:
                while True:
                    time.sleep(3600)
        elif name == "malformed":
            self.start_stream()
            self.token(0)
            self.event(b'{"choices": [{"delta": {"content": "broken"')
            self.end_body()
        elif name == "stream_error":
            self.start_stream()
            self.token(0)
            self.event({"error": {"code": 500, "message": "the model fell over", "type": "server_error"}})
            self.end_body()
        elif name == "http500":
            self.send_json(500, {"error": {"code": 500, "message": "internal trouble", "type": "server_error"}})
        elif name == "http429":
            self.send_json(429, {"error": {"code": 429, "message": "too many requests", "type": "rate_limit"}})
        elif name == "text502":
            body = b"bad gateway\nupstream down\n"
            self.send_response(502)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif name == "slow":
            time.sleep(float(args[0]))
            self.normal(2)
        elif name == "auth":
            got = self.headers.get("Authorization", "")
            if got == "Bearer " + os.environ.get("FAULT_SERVER_KEY", "<unset>"):
                self.normal(2)
            else:
                self.send_json(401, {"error": {"message": "wrong key: " + got}})
        else:
            self.send_json(404, {"error": {"message": "unknown behaviour " + name}})


class Server(ThreadingHTTPServer):
    daemon_threads = True  # stalled handlers must not keep the process alive
    request_queue_size = 128
    accepted = 0

    def process_request(self, request, client_address):
        self.accepted += 1  # one thread accepts: no lock needed
        super().process_request(request, client_address)

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # clients that hang up are expected
            super().handle_error(request, client_address)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = Server(("127.0.0.1", port), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
