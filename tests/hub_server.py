#!/usr/bin/env python3
"""A stand-in for the Hugging Face Hub's file layout on 127.0.0.1, for the fetch tests.
Standard library only.

  hub_server.py serve <root> <port file> <log file>
  hub_server.py shard <model.safetensors> <out dir> <n>
  hub_server.py subset <model.safetensors> <out.safetensors> <name prefix>

serve: GET/HEAD <org>/<name>/resolve/<rev>/<path> answers from <root>/<org>/<name>/<path>
(rev "main"; any other rev from <root>/<org>/<name>@<rev>/). Weight files (.safetensors,
.gguf) behave like the Hub's LFS files: a 302 to /cdn/<sha256> carrying X-Linked-Size and
X-Linked-Etag (the SHA-256); /cdn/ honours Range and, like a CDN's signed URLs, refuses
HEAD with a 403. Small files come straight back with a
git-style (non-SHA-256) ETag. The org selects a misbehaviour:
  private  401 unless "Authorization: Bearer test-token"
  flaky    the first GET of each blob sends the headers and half the body, then drops the
           connection
  badsize  X-Linked-Size one byte too large
  badhash  X-Linked-Etag of different content
Every request is logged as "<METHOD> <path> range=<Range or -> auth=<yes|no>".
The port (bound to 0, so any free one) is written to <port file> once listening.

shard: split a safetensors file into n shard files plus model.safetensors.index.json.
subset: the tensors whose names start with a prefix, as one safetensors file."""
import hashlib
import http.server
import json
import os
import socket
import struct
import sys
import threading

LFS_SUFFIXES = (".safetensors", ".gguf")


class Hub:
    def __init__(self, root, log_path):
        self.root = root
        self.log = open(log_path, "a", buffering=1)
        self.blobs = {}      # sha256 -> (path, org)
        self.served = set()  # flaky blobs already cut once
        self.lock = threading.Lock()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub = None

    def log_message(self, fmt, *args):
        pass

    def do_HEAD(self):
        self.route(head=True)

    def do_GET(self):
        self.route(head=False)

    def reply(self, code, headers=(), body=b"", head=False):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def route(self, head):
        hub = self.hub
        auth = self.headers.get("Authorization")
        hub.log.write("%s %s range=%s auth=%s\n" % (self.command, self.path,
                      self.headers.get("Range") or "-", "yes" if auth else "no"))
        parts = self.path.split("?", 1)[0].split("/")
        if len(parts) == 3 and parts[1] == "cdn":
            return self.cdn(parts[2], head)
        if len(parts) < 6 or parts[3] != "resolve" or ".." in parts:
            return self.reply(404, body=b"not found", head=head)
        org, name, rev, rel = parts[1], parts[2], parts[4], "/".join(parts[5:])
        if org == "private" and auth != "Bearer test-token":
            return self.reply(401, body=b"unauthorized", head=head)
        repo = os.path.join(hub.root, org, name if rev == "main" else name + "@" + rev)
        path = os.path.join(repo, rel)
        if not os.path.isfile(path):
            return self.reply(404, [("X-Error-Code", "EntryNotFound")], b"entry not found", head)
        if not path.endswith(LFS_SUFFIXES):
            data = open(path, "rb").read()
            etag = '"%s"' % hashlib.sha1(data).hexdigest()
            return self.reply(200, [("ETag", etag)], data, head)
        sha = sha256_file(path)
        with hub.lock:
            hub.blobs[sha] = (path, org)
        size = os.path.getsize(path)
        linked_size = size + 1 if org == "badsize" else size
        linked_etag = hashlib.sha256(b"other").hexdigest() if org == "badhash" else sha
        self.reply(302, [("Location", "/cdn/" + sha), ("X-Linked-Size", str(linked_size)),
                         ("X-Linked-Etag", '"%s"' % linked_etag), ("ETag", '"%s"' % linked_etag)],
                   b"", head)

    def cdn(self, sha, head):
        hub = self.hub
        with hub.lock:
            entry = hub.blobs.get(sha)
        if not entry:
            return self.reply(404, body=b"no such blob", head=head)
        path, org = entry
        if head:  # like a CDN's signed URL: GET only
            return self.reply(403, body=b"signature does not match", head=True)
        data = open(path, "rb").read()
        size = len(data)
        rng = self.headers.get("Range")
        start = 0
        if rng:
            spec = rng.replace("bytes=", "").split("-")
            start = int(spec[0])
            end = int(spec[1]) if spec[1] else size - 1
            if start >= size:
                return self.reply(416, [("Content-Range", "bytes */%d" % size)], b"", head)
            body = data[start:end + 1]
            headers = [("Content-Range", "bytes %d-%d/%d" % (start, start + len(body) - 1, size)),
                       ("ETag", '"%s"' % sha), ("Accept-Ranges", "bytes")]
            return self.reply(206, headers, body, head)
        with hub.lock:
            cut = org == "flaky" and not head and sha not in hub.served
            if cut:
                hub.served.add(sha)
        if not cut:
            return self.reply(200, [("ETag", '"%s"' % sha), ("Accept-Ranges", "bytes")], data, head)
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.wfile.write(data[:size // 2])
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


def serve(root, port_file, log_file):
    Handler.hub = Hub(root, log_file)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, port_file)
    srv.serve_forever()


def read_st(src):
    with open(src, "rb") as f:
        hlen = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(hlen))
        data = f.read()
    return header, header.pop("__metadata__", None), data


def write_st(path, header, meta, data, names):
    part, blob = {}, b""
    for name in names:
        b, e = header[name]["data_offsets"]
        part[name] = {"dtype": header[name]["dtype"], "shape": header[name]["shape"],
                      "data_offsets": [len(blob), len(blob) + e - b]}
        blob += data[b:e]
    if meta:
        part["__metadata__"] = meta
    text = json.dumps(part).encode()
    text += b" " * ((-len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + blob)


def subset(src, out, prefix):
    header, meta, data = read_st(src)
    write_st(out, header, meta, data, sorted(n for n in header if n.startswith(prefix)))


def shard(src, out_dir, n):
    header, meta, data = read_st(src)
    names = sorted(header)
    per = (len(names) + n - 1) // n
    os.makedirs(out_dir, exist_ok=True)
    weight_map = {}
    for i in range(n):
        fname = "model-%05d-of-%05d.safetensors" % (i + 1, n)
        for name in names[i * per:(i + 1) * per]:
            weight_map[name] = fname
        write_st(os.path.join(out_dir, fname), header, meta, data, names[i * per:(i + 1) * per])
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": len(data)}, "weight_map": weight_map}, f, indent=2)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 5 and sys.argv[1] == "shard":
        shard(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) == 5 and sys.argv[1] == "subset":
        subset(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
