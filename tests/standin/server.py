#!/usr/bin/env python3
# server.py — a strict stand-in for S3 and the EMR API on loopback, for ubpipe's AWS tests.
"""A strict stand-in for S3 and the EMR API, for tests on loopback.

Every request must carry a valid AWS Signature Version 4, either in the
Authorization header or as a presigned URL.  The signature is recomputed
with botocore (botocore.auth.SigV4Auth / S3SigV4Auth / S3SigV4QueryAuth) from
the request as received and compared; a wrong one gets 403
SignatureDoesNotMatch (S3) or InvalidSignatureException (EMR, as the JSON
services answer).  S3 requests must also carry x-amz-content-sha256, equal to
the SHA-256 of the body they send (or UNSIGNED-PAYLOAD), and Content-MD5 is
checked when present.

S3 (path-style addressing: /BUCKET/KEY): PutObject, CopyObject, GetObject
(Range, If-Match), HeadObject, DeleteObject, ListObjectsV2 (prefix,
delimiter, max-keys, continuation-token, start-after), and multipart uploads
with S3's rules: CreateMultipartUpload, UploadPart (partNumber 1..10000,
NoSuchUpload), CompleteMultipartUpload (MalformedXML, InvalidPartOrder,
InvalidPart, EntityTooSmall for a part other than the last under 5 MiB),
AbortMultipartUpload, ListMultipartUploads, ListParts.

EMR (AWS JSON 1.1, POST /, X-Amz-Target: ElasticMapReduce.<Op>):
AddJobFlowSteps, DescribeStep, CancelSteps.  Each step walks a scripted
sequence of states, one position per DescribeStep call, and stays on the
last; a FAILED step reports FailureDetails.  The script (JSON):
    {"default": {"states": ["PENDING", "RUNNING", "COMPLETED"]},
     "by_name": {"Classify movie reviews":
                   {"states": ["RUNNING", "FAILED"],
                    "failure": {"Reason": "...", "Message": "...", "LogFile": "s3://..."}}}}

Faults, injected on demand (a JSON list; each entry is used `times` times,
-1 = always):
    {"op": "PutObject", "kind": "slowdown", "times": 1}     503 SlowDown
    {"op": "UploadPart", "kind": "reset"}                   connection reset, no reply
    {"op": "GetObject", "kind": "slow", "delay": 3}         reply after 3 s
    {"op": "CompleteMultipartUpload", "kind": "error-in-200", "code": "InternalError"}
                                                            200 with an <Error> body, not completed
    {"op": "DescribeStep", "kind": "throttle"}              400 ThrottlingException (JSON)
    {"op": "*", "kind": "error", "status": 500, "code": "InternalError"}
"op" is an operation name (or "*"); "key" optionally restricts it to keys
containing that text.

Control endpoints (not signed), under /__standin/:
    POST   faults         add faults (body: a JSON list or one object)
    DELETE faults         remove all faults
    GET    faults         the faults not used up yet
    POST   emr-script     set the EMR script (body: JSON as above)
    GET    emr-steps      the AddJobFlowSteps calls received: [{"cluster", "steps", "ids"}]
    GET    log            every request: [{"op", "bucket", "key", "status", "fault"}]
    GET    uploads        multipart uploads in progress
    GET    object?bucket=B&key=K   an object's bytes
    POST   reset          forget objects, uploads, steps, faults and the log

Settings (options, else environment): --access-key (STANDIN_ACCESS_KEY),
--secret-key (STANDIN_SECRET_KEY), --session-token (STANDIN_SESSION_TOKEN: when
set, requests must carry exactly this token), --region (STANDIN_REGION,
us-east-1), --bucket NAME (STANDIN_BUCKETS, comma separated), --cluster ID
(STANDIN_CLUSTERS; none = any j-... id), --faults JSON (STANDIN_FAULTS),
--emr-script JSON (STANDIN_EMR_SCRIPT), --port (0 = a free port).

It binds 127.0.0.1 and prints "standin: listening on 127.0.0.1:PORT".
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import random
import socket
import string
import struct
import sys
import threading
import time
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

MIN_PART = 5 * 1024 * 1024
MAX_PART_NUMBER = 10000
SKEW = 15 * 60
S3NS = "http://s3.amazonaws.com/doc/2006-03-01/"
EMR_STATES = {"PENDING", "CANCEL_PENDING", "RUNNING", "COMPLETED", "CANCELLED", "FAILED", "INTERRUPTED"}
FINAL = {"COMPLETED", "CANCELLED", "FAILED", "INTERRUPTED"}
ACTIONS = {"TERMINATE_JOB_FLOW", "TERMINATE_CLUSTER", "CANCEL_AND_WAIT", "CONTINUE"}


class S3Error(Exception):
    def __init__(self, status, code, message, extra=None):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra or {}


class EmrError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def now_rfc1123(t):
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(t))


def iso8601(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


def rand_id(prefix, n):
    return prefix + "".join(random.choice(string.ascii_uppercase + string.digits) for _ in range(n))


class State:
    """Everything the server knows; guarded by lock."""

    def __init__(self, cfg):
        self.lock = threading.Lock()
        self.cfg = cfg
        self.buckets = {b: {} for b in cfg.buckets}
        self.reset()
        self.faults = list(cfg.faults)
        self.emr_script = cfg.emr_script

    def reset(self):
        for b in self.buckets:
            self.buckets[b] = {}
        self.uploads = {}
        self.steps = {}           # id -> step dict
        self.step_order = []
        self.submissions = []
        self.faults = []
        self.log = []
        self.emr_script = {}

    def take_fault(self, op, key):
        for f in self.faults:
            if f.get("op", "*") not in ("*", op):
                continue
            if f.get("key") and f["key"] not in (key or ""):
                continue
            t = f.get("times", 1)
            if t == 0:
                continue
            if t > 0:
                f["times"] = t - 1
            self.faults = [g for g in self.faults if g.get("times", 1) != 0]
            return dict(f)
        return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ubpipe-standin"
    sys_version = ""

    # ---- plumbing -------------------------------------------------------

    def log_message(self, fmt, *args):
        if os.environ.get("STANDIN_VERBOSE"):
            sys.stderr.write("standin: " + (fmt % args) + "\n")

    @property
    def st(self):
        return self.server.state

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            out = bytearray()
            while True:
                line = self.rfile.readline().strip()
                n = int(line.split(b";")[0], 16)
                if n == 0:
                    while self.rfile.readline().strip():
                        pass
                    return bytes(out)
                out += self.rfile.read(n)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send(self, status, body=b"", ctype=None, headers=None, head=False):
        self.send_response(status)
        rid = rand_id("", 16)
        self.send_header("x-amz-request-id", rid)
        self.send_header("x-amzn-RequestId", rid)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if ctype and body:
            self.send_header("Content-Type", ctype)
        if status != 204 and not (headers and "Content-Length" in headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and not head and status != 204:
            self.wfile.write(body)
        self.status_sent = status

    def send_xml(self, status, root_xml):
        self.send(status, ('<?xml version="1.0" encoding="UTF-8"?>\n' + root_xml).encode(), "application/xml")

    def s3_error(self, e, head=False):
        extra = "".join("<%s>%s</%s>" % (k, escape(str(v)), k) for k, v in e.extra.items())
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>%s'
                '<RequestId>%s</RequestId></Error>' % (e.code, escape(e.message), extra, rand_id("", 16)))
        self.send(e.status, b"" if head else body.encode(), "application/xml")

    def emr_error(self, e):
        body = json.dumps({"__type": e.code, "message": e.message}).encode()
        self.send(e.status, body, "application/x-amz-json-1.1", {"x-amzn-ErrorType": e.code})

    def reset_connection(self):
        """Closes the socket with RST and no reply."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
        self.close_connection = True
        self.status_sent = 0

    def record(self, op, bucket, key, fault=None):
        with self.st.lock:
            self.st.log.append({"op": op, "bucket": bucket, "key": key,
                                "status": getattr(self, "status_sent", 0), "fault": fault})

    # ---- entry points ---------------------------------------------------

    def do_GET(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def dispatch(self):
        self.status_sent = 0
        raw_path, _, raw_query = self.path.partition("?")
        body = self.read_body()
        if raw_path.startswith("/__standin/"):
            return self.control(raw_path[len("/__standin/"):], raw_query, body)
        params = []
        for pair in raw_query.split("&") if raw_query else []:
            k, _, v = pair.partition("=")
            params.append((unquote(k), unquote(v)))
        target = self.headers.get("X-Amz-Target")
        is_emr = target is not None
        head = self.command == "HEAD"
        try:
            self.verify(raw_path, params, body, "elasticmapreduce" if is_emr else "s3")
        except S3Error as e:
            if is_emr:
                self.emr_error(EmrError(e.status, "InvalidSignatureException" if e.code ==
                                        "SignatureDoesNotMatch" else e.code, e.message))
            else:
                self.s3_error(e, head)
            self.record("Auth", None, None)
            return
        if is_emr:
            return self.emr(target, body)
        return self.s3(raw_path, params, body, head)

    # ---- SigV4 ------------------------------------------------------------

    def verify(self, raw_path, params, body, service):
        cfg = self.st.cfg
        q = dict(params)
        auth = self.headers.get("Authorization")
        presigned = auth is None and "X-Amz-Signature" in q
        if auth is None and not presigned:
            raise S3Error(403, "AccessDenied", "anonymous requests are not accepted")
        if presigned:
            alg = q.get("X-Amz-Algorithm")
            cred = q.get("X-Amz-Credential", "")
            signed = q.get("X-Amz-SignedHeaders", "")
            given = q.get("X-Amz-Signature", "")
            amz_date = q.get("X-Amz-Date", "")
            token = q.get("X-Amz-Security-Token")
            try:
                expires = int(q.get("X-Amz-Expires", ""))
            except ValueError:
                raise S3Error(400, "AuthorizationQueryParametersError", "X-Amz-Expires must be a number")
        else:
            alg, _, rest = auth.partition(" ")
            fields = {}
            for part in rest.split(","):
                k, _, v = part.strip().partition("=")
                fields[k] = v
            cred, signed, given = fields.get("Credential", ""), fields.get("SignedHeaders", ""), \
                fields.get("Signature", "")
            amz_date = self.headers.get("X-Amz-Date", "")
            token = self.headers.get("X-Amz-Security-Token")
        if alg != "AWS4-HMAC-SHA256":
            raise S3Error(400, "AuthorizationHeaderMalformed", "unsupported algorithm '%s'" % alg)
        scope = cred.split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            raise S3Error(400, "AuthorizationHeaderMalformed", "malformed credential '%s'" % cred)
        akid, date8, region, svc = scope[0], scope[1], scope[2], scope[3]
        if akid != cfg.access_key:
            raise S3Error(403, "InvalidAccessKeyId",
                          "The AWS Access Key Id you provided does not exist in our records.")
        if svc != service:
            raise S3Error(400, "AuthorizationHeaderMalformed", "service '%s' is wrong; expecting '%s'" %
                          (svc, service))
        if region != cfg.region:
            raise S3Error(400, "AuthorizationHeaderMalformed", "the region '%s' is wrong; expecting '%s'" %
                          (region, cfg.region))
        try:
            t = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
                tzinfo=datetime.timezone.utc).timestamp()
        except ValueError:
            raise S3Error(403, "AccessDenied", "missing or malformed X-Amz-Date '%s'" % amz_date)
        if date8 != amz_date[:8]:
            raise S3Error(403, "SignatureDoesNotMatch", "credential date does not match X-Amz-Date")
        if presigned:
            if not 1 <= expires <= 604800:
                raise S3Error(400, "AuthorizationQueryParametersError", "X-Amz-Expires out of range")
            if time.time() > t + expires:
                raise S3Error(403, "AccessDenied", "Request has expired")
        elif abs(time.time() - t) > SKEW:
            raise S3Error(403, "RequestTimeTooSkewed",
                          "The difference between the request time and the current time is too large.")
        if (cfg.session_token or None) != (token or None):
            raise S3Error(403, "InvalidToken" if token else "AccessDenied",
                          "The provided token is malformed or otherwise invalid." if token
                          else "a session token is required")
        names = signed.split(";") if signed else []
        lnames = set(names)
        if "host" not in lnames:
            raise S3Error(403, "AccessDenied", "the host header must be signed")
        if not presigned and "x-amz-date" not in lnames:
            raise S3Error(403, "AccessDenied", "x-amz-date must be signed")
        for h in self.headers.keys():
            lh = h.lower()
            if lh.startswith("x-amz-") and lh not in lnames:
                raise S3Error(403, "AccessDenied", "There were headers present in the request which were "
                              "not signed: %s" % lh)
        for n in names:
            if n not in [h.lower() for h in self.headers.keys()]:
                raise S3Error(403, "AccessDenied", "signed header '%s' is missing" % n)
        if service == "s3" and not presigned:
            sha = self.headers.get("x-amz-content-sha256")
            if sha is None:
                raise S3Error(400, "InvalidRequest",
                              "Missing required header for this request: x-amz-content-sha256")
            if sha != "UNSIGNED-PAYLOAD" and sha != hashlib.sha256(body).hexdigest():
                raise S3Error(400, "XAmzContentSHA256Mismatch",
                              "The provided 'x-amz-content-sha256' header does not match what was computed.")
        # Recompute with botocore from what was received.
        req = AWSRequest(method=self.command, url="http://%s%s" % (self.headers.get("Host", ""), raw_path),
                         data=body)
        hh = HTTPHeaders()
        for h, v in self.headers.items():
            if h.lower() in lnames:
                hh[h] = v
        req.headers = hh
        req.params = [(k, v) for k, v in params if not (presigned and k == "X-Amz-Signature")]
        req.context["timestamp"] = amz_date
        creds = Credentials(cfg.access_key, cfg.secret_key, cfg.session_token or None)
        if presigned:
            signer = S3SigV4QueryAuth(creds, "s3", cfg.region, expires=expires)
        elif service == "s3":
            signer = S3SigV4Auth(creds, "s3", cfg.region)
        else:
            signer = SigV4Auth(creds, service, cfg.region)
        creq = signer.canonical_request(req)
        sts = signer.string_to_sign(req, creq)
        want = signer.signature(sts, req)
        if signer.signed_headers(signer.headers_to_sign(req)) != signed or \
                not hmac.compare_digest(want, given):
            raise S3Error(403, "SignatureDoesNotMatch",
                          "The request signature we calculated does not match the signature you provided. "
                          "Check your key and signing method.",
                          {"CanonicalRequest": creq, "StringToSign": sts})

    # ---- faults -----------------------------------------------------------

    def fault(self, op, key, service):
        """Applies a fault for op if one is due; True when the reply was made."""
        with self.st.lock:
            f = self.st.take_fault(op, key)
        if not f:
            return None
        kind = f.get("kind")
        if kind == "slow":
            time.sleep(float(f.get("delay", 3)))
            return f                 # then reply normally
        if kind == "reset":
            self.reset_connection()
        elif kind == "slowdown":
            if service == "s3":
                self.s3_error(S3Error(503, "SlowDown", "Please reduce your request rate."),
                              self.command == "HEAD")
            else:
                self.emr_error(EmrError(503, "ServiceUnavailableException", "Please reduce your request rate."))
        elif kind == "throttle":
            if service == "s3":
                self.s3_error(S3Error(503, "SlowDown", "Please reduce your request rate."))
            else:
                self.emr_error(EmrError(400, "ThrottlingException", "Rate exceeded"))
        elif kind == "error":
            if service == "s3":
                self.s3_error(S3Error(int(f.get("status", 500)), f.get("code", "InternalError"),
                                      f.get("message", "We encountered an internal error. Please try again.")),
                              self.command == "HEAD")
            else:
                self.emr_error(EmrError(int(f.get("status", 500)), f.get("code", "InternalServerError"),
                                        f.get("message", "internal error")))
        elif kind in ("error-in-200", "complete-error"):
            return f                 # the operation answers with it
        f["replied"] = True
        return f

    # ---- S3 ---------------------------------------------------------------

    def s3(self, raw_path, params, body, head):
        q = dict(params)
        parts = raw_path.lstrip("/").split("/", 1)
        bucket = unquote(parts[0]) if parts[0] else None
        key = unquote(parts[1]) if len(parts) > 1 and parts[1] else None
        m = self.command
        if bucket is None:
            op = "ListBuckets"
        elif key is None:
            if m == "GET" and "uploads" in q:
                op = "ListMultipartUploads"
            elif m == "GET" and q.get("list-type") == "2":
                op = "ListObjectsV2"
            elif m == "GET":
                op = "ListObjects"
            elif m == "HEAD":
                op = "HeadBucket"
            else:
                op = "Bucket" + m.title()
        elif m == "POST" and "uploads" in q:
            op = "CreateMultipartUpload"
        elif m == "POST" and "uploadId" in q:
            op = "CompleteMultipartUpload"
        elif m == "PUT" and "uploadId" in q:
            op = "UploadPart"
        elif m == "DELETE" and "uploadId" in q:
            op = "AbortMultipartUpload"
        elif m == "GET" and "uploadId" in q:
            op = "ListParts"
        elif m == "PUT" and "x-amz-copy-source" in self.headers:
            op = "CopyObject"
        else:
            op = {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject",
                  "DELETE": "DeleteObject"}.get(m, "Unknown")
        f = self.fault(op, key, "s3")
        if f and f.get("replied"):
            self.record(op, bucket, key, f.get("kind"))
            return
        try:
            with self.st.lock:
                if bucket is not None and bucket not in self.st.buckets:
                    raise S3Error(404, "NoSuchBucket", "The specified bucket does not exist",
                                  {"BucketName": bucket})
                handler = getattr(self, "s3_" + op, None)
                if handler is None:
                    raise S3Error(501, "NotImplemented", "%s is not implemented by the stand-in" % op)
                reply = handler(bucket, key, q, body, f)
            status, payload, headers = reply
            if isinstance(payload, str):
                payload = ('<?xml version="1.0" encoding="UTF-8"?>\n' + payload).encode()
                headers = dict(headers or {}, **{"Content-Type": "application/xml"})
            self.send(status, payload, None, headers, head)
        except S3Error as e:
            self.s3_error(e, head)
        self.record(op, bucket, key, f.get("kind") if f else None)

    def check_md5(self, body):
        md5 = self.headers.get("Content-MD5")
        if md5 is None:
            return
        try:
            want = base64.b64decode(md5, validate=True)
        except ValueError:
            raise S3Error(400, "InvalidDigest", "The Content-MD5 you specified was invalid.")
        if len(want) != 16:
            raise S3Error(400, "InvalidDigest", "The Content-MD5 you specified was invalid.")
        if want != hashlib.md5(body).digest():
            raise S3Error(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")

    def obj(self, bucket, key):
        o = self.st.buckets[bucket].get(key)
        if o is None:
            raise S3Error(404, "NoSuchKey", "The specified key does not exist.", {"Key": key})
        return o

    @staticmethod
    def obj_headers(o):
        return {"ETag": o["etag"], "Last-Modified": now_rfc1123(o["mtime"]), "Accept-Ranges": "bytes",
                "Content-Type": o.get("ctype", "binary/octet-stream")}

    def s3_PutObject(self, bucket, key, q, body, f):
        self.check_md5(body)
        etag = '"%s"' % hashlib.md5(body).hexdigest()
        self.st.buckets[bucket][key] = {"data": body, "etag": etag, "mtime": time.time(),
                                        "ctype": self.headers.get("Content-Type", "binary/octet-stream")}
        return 200, b"", {"ETag": etag}

    def s3_CopyObject(self, bucket, key, q, body, f):
        src = unquote(self.headers["x-amz-copy-source"].split("?")[0]).lstrip("/")
        sb, _, sk = src.partition("/")
        if sb not in self.st.buckets:
            raise S3Error(404, "NoSuchBucket", "The specified bucket does not exist", {"BucketName": sb})
        o = self.obj(sb, sk)
        if f and f.get("kind") in ("error-in-200", "complete-error"):
            return 200, "<Error><Code>%s</Code><Message>injected error</Message></Error>" % \
                f.get("code", "InternalError"), None
        t = time.time()
        self.st.buckets[bucket][key] = dict(o, mtime=t)
        return 200, ('<CopyObjectResult xmlns="%s"><LastModified>%s</LastModified><ETag>%s</ETag>'
                     '</CopyObjectResult>' % (S3NS, iso8601(t), escape(o["etag"]))), None

    def s3_GetObject(self, bucket, key, q, body, f):
        o = self.obj(bucket, key)
        im = self.headers.get("If-Match")
        if im is not None and im.strip() != o["etag"] and im.strip() != "*":
            raise S3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified "
                          "did not hold", {"Condition": "If-Match"})
        data, size = o["data"], len(o["data"])
        h = self.obj_headers(o)
        rng = self.headers.get("Range")
        if rng:
            if not rng.startswith("bytes=") or "," in rng:
                raise S3Error(400, "InvalidArgument", "unsupported Range '%s'" % rng)
            a, _, b = rng[6:].partition("-")
            try:
                if a == "":
                    n = int(b)
                    a, b = max(0, size - n), size - 1
                else:
                    a = int(a)
                    b = min(int(b), size - 1) if b else size - 1
            except ValueError:
                raise S3Error(400, "InvalidArgument", "malformed Range '%s'" % rng)
            if a >= size or a > b:
                raise S3Error(416, "InvalidRange", "The requested range is not satisfiable",
                              {"RangeRequested": rng, "ActualObjectSize": size})
            h["Content-Range"] = "bytes %d-%d/%d" % (a, b, size)
            return 206, data[a:b + 1], h
        return 200, data, h

    def s3_HeadObject(self, bucket, key, q, body, f):
        o = self.st.buckets[bucket].get(key)
        if o is None:
            raise S3Error(404, "NoSuchKey", "")
        h = self.obj_headers(o)
        h["Content-Length"] = str(len(o["data"]))
        return 200, b"", h

    def s3_DeleteObject(self, bucket, key, q, body, f):
        self.st.buckets[bucket].pop(key, None)
        return 204, b"", None

    def s3_ListObjectsV2(self, bucket, key, q, body, f):
        prefix = q.get("prefix", "")
        delim = q.get("delimiter", "")
        try:
            maxk = int(q.get("max-keys", "1000"))
        except ValueError:
            raise S3Error(400, "InvalidArgument", "max-keys must be an integer")
        if maxk < 0:
            raise S3Error(400, "InvalidArgument", "max-keys must be >= 0")
        maxk = min(maxk, 1000)
        after = q.get("start-after", "")
        tok = q.get("continuation-token")
        if tok is not None:
            try:
                after = base64.urlsafe_b64decode(tok.encode()).decode()
            except (ValueError, UnicodeDecodeError):
                raise S3Error(400, "InvalidArgument", "The continuation token provided is incorrect")
        url_enc = q.get("encoding-type") == "url"

        def enc(s):
            return quote(s, safe="/") if url_enc else s
        keys = sorted(k for k in self.st.buckets[bucket] if k.startswith(prefix) and k > after)
        items, prefixes, last, truncated = [], [], None, False
        for k in keys:
            if len(items) + len(prefixes) >= maxk:
                truncated = True
                break
            if delim:
                i = k.find(delim, len(prefix))
                if i >= 0:
                    cp = k[:i + len(delim)]
                    if cp not in prefixes:
                        if prefixes and prefixes[-1] == cp:
                            continue
                        prefixes.append(cp)
                    last = k
                    continue
            items.append(k)
            last = k
        out = ['<ListBucketResult xmlns="%s"><Name>%s</Name><Prefix>%s</Prefix><KeyCount>%d</KeyCount>'
               '<MaxKeys>%d</MaxKeys><IsTruncated>%s</IsTruncated>' %
               (S3NS, escape(bucket), escape(enc(prefix)), len(items) + len(prefixes), maxk,
                "true" if truncated else "false")]
        if delim:
            out.append("<Delimiter>%s</Delimiter>" % escape(enc(delim)))
        if url_enc:
            out.append("<EncodingType>url</EncodingType>")
        if tok is not None:
            out.append("<ContinuationToken>%s</ContinuationToken>" % escape(tok))
        if q.get("start-after"):
            out.append("<StartAfter>%s</StartAfter>" % escape(enc(q["start-after"])))
        for k in items:
            o = self.st.buckets[bucket][k]
            out.append("<Contents><Key>%s</Key><LastModified>%s</LastModified><ETag>%s</ETag><Size>%d</Size>"
                       "<StorageClass>STANDARD</StorageClass></Contents>" %
                       (escape(enc(k)), iso8601(o["mtime"]), escape(o["etag"]), len(o["data"])))
        for p in prefixes:
            out.append("<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>" % escape(enc(p)))
        if truncated:
            out.append("<NextContinuationToken>%s</NextContinuationToken>" %
                       base64.urlsafe_b64encode(last.encode()).decode())
        out.append("</ListBucketResult>")
        return 200, "".join(out), None

    def s3_CreateMultipartUpload(self, bucket, key, q, body, f):
        uid = base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
        self.st.uploads[uid] = {"bucket": bucket, "key": key, "parts": {}, "initiated": time.time()}
        return 200, ('<InitiateMultipartUploadResult xmlns="%s"><Bucket>%s</Bucket><Key>%s</Key>'
                     '<UploadId>%s</UploadId></InitiateMultipartUploadResult>' %
                     (S3NS, escape(bucket), escape(key), escape(uid))), None

    def upload(self, bucket, key, q):
        u = self.st.uploads.get(q.get("uploadId", ""))
        if u is None or u["bucket"] != bucket or u["key"] != key:
            raise S3Error(404, "NoSuchUpload", "The specified upload does not exist. The upload ID may be "
                          "invalid, or the upload may have been aborted or completed.",
                          {"UploadId": q.get("uploadId", "")})
        return u

    def s3_UploadPart(self, bucket, key, q, body, f):
        u = self.upload(bucket, key, q)
        try:
            n = int(q.get("partNumber", ""))
        except ValueError:
            raise S3Error(400, "InvalidArgument", "Part number must be an integer between 1 and 10000")
        if not 1 <= n <= MAX_PART_NUMBER:
            raise S3Error(400, "InvalidArgument", "Part number must be an integer between 1 and 10000, "
                          "inclusive")
        self.check_md5(body)
        etag = '"%s"' % hashlib.md5(body).hexdigest()
        u["parts"][n] = {"data": body, "etag": etag, "mtime": time.time()}
        return 200, b"", {"ETag": etag}

    def s3_CompleteMultipartUpload(self, bucket, key, q, body, f):
        u = self.upload(bucket, key, q)
        if f and f.get("kind") in ("error-in-200", "complete-error"):
            return 200, ("<Error><Code>%s</Code><Message>We encountered an internal error. Please try again."
                         "</Message></Error>" % f.get("code", "InternalError")), None
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            raise S3Error(400, "MalformedXML", "The XML you provided was not well-formed or did not "
                          "validate against our published schema")
        listed = []
        for p in root.iter():
            if p.tag.split("}")[-1] != "Part":
                continue
            num = etag = None
            for c in p:
                t = c.tag.split("}")[-1]
                if t == "PartNumber":
                    num = c.text
                elif t == "ETag":
                    etag = c.text
            try:
                listed.append((int(num), (etag or "").strip()))
            except (TypeError, ValueError):
                raise S3Error(400, "MalformedXML", "a Part without a valid PartNumber")
        if not listed:
            raise S3Error(400, "MalformedXML", "The XML you provided was not well-formed or did not "
                          "validate against our published schema")
        for i in range(1, len(listed)):
            if listed[i][0] <= listed[i - 1][0]:
                raise S3Error(400, "InvalidPartOrder", "The list of parts was not in ascending order. "
                              "The parts list must be specified in order by part number.")
        for num, etag in listed:
            part = u["parts"].get(num)
            if part is None or part["etag"].strip('"') != etag.strip('"'):
                raise S3Error(400, "InvalidPart", "One or more of the specified parts could not be found. "
                              "The part might not have been uploaded, or the specified entity tag might not "
                              "have matched the part's entity tag.", {"PartNumber": num, "ETag": etag})
        for num, _ in listed[:-1]:
            if len(u["parts"][num]["data"]) < MIN_PART:
                raise S3Error(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum "
                              "allowed object size.", {"PartNumber": num,
                                                       "ProposedSize": len(u["parts"][num]["data"]),
                                                       "MinSizeAllowed": MIN_PART})
        data = b"".join(u["parts"][n]["data"] for n, _ in listed)
        digest = hashlib.md5(b"".join(bytes.fromhex(u["parts"][n]["etag"].strip('"'))
                                      for n, _ in listed)).hexdigest()
        etag = '"%s-%d"' % (digest, len(listed))
        self.st.buckets[bucket][key] = {"data": data, "etag": etag, "mtime": time.time(),
                                        "ctype": "binary/octet-stream"}
        del self.st.uploads[q["uploadId"]]
        return 200, ('<CompleteMultipartUploadResult xmlns="%s"><Location>http://%s/%s/%s</Location>'
                     '<Bucket>%s</Bucket><Key>%s</Key><ETag>%s</ETag></CompleteMultipartUploadResult>' %
                     (S3NS, escape(self.headers.get("Host", "")), escape(bucket), escape(key),
                      escape(bucket), escape(key), escape(etag))), None

    def s3_AbortMultipartUpload(self, bucket, key, q, body, f):
        self.upload(bucket, key, q)
        del self.st.uploads[q["uploadId"]]
        return 204, b"", None

    def s3_ListMultipartUploads(self, bucket, key, q, body, f):
        prefix = q.get("prefix", "")
        out = ['<ListMultipartUploadsResult xmlns="%s"><Bucket>%s</Bucket><Prefix>%s</Prefix>'
               '<MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>' %
               (S3NS, escape(bucket), escape(prefix))]
        for uid, u in sorted(self.st.uploads.items(), key=lambda x: (x[1]["key"], x[1]["initiated"])):
            if u["bucket"] == bucket and u["key"].startswith(prefix):
                out.append("<Upload><Key>%s</Key><UploadId>%s</UploadId><Initiated>%s</Initiated>"
                           "<StorageClass>STANDARD</StorageClass></Upload>" %
                           (escape(u["key"]), escape(uid), iso8601(u["initiated"])))
        out.append("</ListMultipartUploadsResult>")
        return 200, "".join(out), None

    def s3_ListParts(self, bucket, key, q, body, f):
        u = self.upload(bucket, key, q)
        out = ['<ListPartsResult xmlns="%s"><Bucket>%s</Bucket><Key>%s</Key><UploadId>%s</UploadId>'
               '<IsTruncated>false</IsTruncated>' % (S3NS, escape(bucket), escape(key), escape(q["uploadId"]))]
        for n in sorted(u["parts"]):
            p = u["parts"][n]
            out.append("<Part><PartNumber>%d</PartNumber><LastModified>%s</LastModified><ETag>%s</ETag>"
                       "<Size>%d</Size></Part>" % (n, iso8601(p["mtime"]), escape(p["etag"]), len(p["data"])))
        out.append("</ListPartsResult>")
        return 200, "".join(out), None

    def s3_HeadBucket(self, bucket, key, q, body, f):
        return 200, b"", None

    # ---- EMR ----------------------------------------------------------------

    def emr(self, target, body):
        op = target[len("ElasticMapReduce."):] if target.startswith("ElasticMapReduce.") else target
        f = self.fault(op, None, "emr")
        if f and f.get("replied"):
            self.record(op, None, None, f.get("kind"))
            return
        try:
            if self.command != "POST":
                raise EmrError(400, "SerializationException", "JSON requests must use POST")
            ct = self.headers.get("Content-Type", "")
            if ct.split(";")[0].strip() != "application/x-amz-json-1.1":
                raise EmrError(400, "SerializationException", "Content-Type must be "
                               "application/x-amz-json-1.1, not '%s'" % ct)
            if not target.startswith("ElasticMapReduce."):
                raise EmrError(400, "UnknownOperationException", "unknown target '%s'" % target)
            handler = getattr(self, "emr_" + op, None)
            if handler is None:
                raise EmrError(400, "UnknownOperationException", "operation '%s' is not supported" % op)
            try:
                req = json.loads(body or b"{}")
            except ValueError:
                raise EmrError(400, "SerializationException", "the request body is not JSON")
            if not isinstance(req, dict):
                raise EmrError(400, "SerializationException", "the request body must be a JSON object")
            with self.st.lock:
                resp = handler(req)
            self.send(200, json.dumps(resp).encode(), "application/x-amz-json-1.1")
        except EmrError as e:
            self.emr_error(e)
        self.record(op, None, None, f.get("kind") if f else None)

    def cluster_ok(self, cid):
        cl = self.st.cfg.clusters
        if not isinstance(cid, str) or (cl and cid not in cl) or (not cl and not cid.startswith("j-")):
            raise EmrError(400, "InvalidRequestException", "Cluster id '%s' is not valid." % cid)

    def emr_AddJobFlowSteps(self, req):
        allowed = {"JobFlowId", "Steps", "ExecutionRoleArn"}
        for k in req:
            if k not in allowed:
                raise EmrError(400, "SerializationException", "unexpected field '%s'" % k)
        self.cluster_ok(req.get("JobFlowId"))
        steps = req.get("Steps")
        if not isinstance(steps, list) or not 1 <= len(steps) <= 256:
            raise EmrError(400, "ValidationException", "Steps must be a list of 1 to 256 steps")
        for i, s in enumerate(steps):
            where = "Steps.%d" % (i + 1)
            if not isinstance(s, dict) or set(s) - {"Name", "ActionOnFailure", "HadoopJarStep"}:
                raise EmrError(400, "SerializationException", "%s: unexpected fields" % where)
            if not isinstance(s.get("Name"), str) or not 1 <= len(s["Name"]) <= 256:
                raise EmrError(400, "ValidationException", "%s.Name must be 1 to 256 characters" % where)
            if "ActionOnFailure" in s and s["ActionOnFailure"] not in ACTIONS:
                raise EmrError(400, "ValidationException", "%s.ActionOnFailure '%s' is not valid" %
                               (where, s["ActionOnFailure"]))
            j = s.get("HadoopJarStep")
            if not isinstance(j, dict) or set(j) - {"Properties", "Jar", "MainClass", "Args"}:
                raise EmrError(400, "ValidationException", "%s.HadoopJarStep is missing or has unexpected "
                               "fields" % where)
            if not isinstance(j.get("Jar"), str) or not j["Jar"]:
                raise EmrError(400, "ValidationException", "%s.HadoopJarStep.Jar is required" % where)
            args = j.get("Args", [])
            if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
                raise EmrError(400, "ValidationException", "%s.HadoopJarStep.Args must be a list of strings"
                               % where)
        ids = []
        script = self.st.emr_script or {}
        for s in steps:
            sid = rand_id("s-", 13)
            plan = (script.get("by_name") or {}).get(s["Name"]) or script.get("default") or \
                {"states": ["PENDING", "RUNNING", "COMPLETED"]}
            states = list(plan.get("states") or ["COMPLETED"])
            bad = [x for x in states if x not in EMR_STATES]
            if bad:
                raise EmrError(500, "InternalServerError", "stand-in script has unknown states %s" % bad)
            self.st.steps[sid] = {"id": sid, "cluster": req["JobFlowId"], "step": s, "states": states, "pos": -1,
                                  "failure": plan.get("failure"), "created": time.time(), "reason": None}
            self.st.step_order.append(sid)
            ids.append(sid)
        self.st.submissions.append({"cluster": req["JobFlowId"], "steps": steps, "ids": ids})
        return {"StepIds": ids}

    def find_step(self, req):
        self.cluster_ok(req.get("ClusterId"))
        sid = req.get("StepId")
        st = self.st.steps.get(sid) if isinstance(sid, str) else None
        if st is None or st["cluster"] != req["ClusterId"]:
            raise EmrError(400, "InvalidRequestException", "Step id '%s' is not valid." % sid)
        return st

    def emr_DescribeStep(self, req):
        st = self.find_step(req)
        if st["pos"] < len(st["states"]) - 1:
            st["pos"] += 1
        state = st["states"][st["pos"]]
        s = st["step"]
        status = {"State": state, "StateChangeReason": {},
                  "Timeline": {"CreationDateTime": st["created"]}}
        if state == "FAILED" and st["failure"]:
            status["FailureDetails"] = st["failure"]
        if state in ("CANCELLED", "INTERRUPTED") and st["reason"]:
            status["StateChangeReason"] = st["reason"]
        if state in FINAL:
            status["Timeline"]["EndDateTime"] = time.time()
        return {"Step": {"Id": st["id"], "Name": s["Name"],
                         "Config": {"Jar": s["HadoopJarStep"]["Jar"],
                                    "Args": s["HadoopJarStep"].get("Args", []), "Properties": {}},
                         "ActionOnFailure": s.get("ActionOnFailure", "CONTINUE"), "Status": status}}

    def emr_CancelSteps(self, req):
        self.cluster_ok(req.get("ClusterId"))
        ids = req.get("StepIds")
        if not isinstance(ids, list):
            raise EmrError(400, "ValidationException", "StepIds must be a list")
        opt = req.get("StepCancellationOption", "SEND_INTERRUPT")
        if opt not in ("SEND_INTERRUPT", "TERMINATE_PROCESS"):
            raise EmrError(400, "ValidationException", "StepCancellationOption '%s' is not valid" % opt)
        out = []
        for sid in ids:
            st = self.st.steps.get(sid)
            if st is None or st["cluster"] != req["ClusterId"]:
                out.append({"StepId": sid, "Status": "FAILED", "Reason": "Step id '%s' is not valid." % sid})
                continue
            cur = st["states"][st["pos"]] if st["pos"] >= 0 else "PENDING"
            if cur in FINAL:
                out.append({"StepId": sid, "Status": "FAILED", "Reason": "step is already %s" % cur})
                continue
            st["states"], st["pos"] = ["CANCEL_PENDING", "CANCELLED"], -1
            st["reason"] = {"Message": "cancelled by CancelSteps (%s)" % opt}
            st["cancelled"] = True
            out.append({"StepId": sid, "Status": "SUBMITTED", "Reason": ""})
        return {"CancelStepsInfoList": out}

    # ---- control ------------------------------------------------------------

    def control(self, what, raw_query, body):
        q = {unquote(k): unquote(v) for k, _, v in (p.partition("=") for p in raw_query.split("&") if p)}
        st = self.st

        def reply(obj, status=200):
            self.send(status, json.dumps(obj, indent=1).encode(), "application/json")
        try:
            data = json.loads(body) if body else None
        except ValueError:
            return reply({"error": "body is not JSON"}, 400)
        m = self.command
        with st.lock:
            if what == "faults" and m == "POST":
                st.faults.extend(data if isinstance(data, list) else [data])
                return reply({"faults": len(st.faults)})
            if what == "faults" and m == "DELETE":
                st.faults = []
                return reply({"faults": 0})
            if what == "faults":
                return reply(st.faults)
            if what == "emr-script" and m == "POST":
                st.emr_script = data or {}
                return reply({"ok": True})
            if what == "emr-steps":
                return reply(st.submissions)
            if what == "log":
                return reply(st.log)
            if what == "uploads":
                return reply([{"bucket": u["bucket"], "key": u["key"], "upload_id": k,
                               "parts": sorted(u["parts"])} for k, u in st.uploads.items()])
            if what == "object":
                o = st.buckets.get(q.get("bucket", ""), {}).get(q.get("key", ""))
                if o is None:
                    return reply({"error": "no such object"}, 404)
                return self.send(200, o["data"], "application/octet-stream")
            if what == "objects":
                return reply({b: sorted(objs) for b, objs in st.buckets.items()})
            if what == "reset" and m == "POST":
                st.reset()
                return reply({"ok": True})
        return reply({"error": "unknown control request %s %s" % (m, what)}, 404)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Cfg:
    pass


def main():
    env = os.environ.get
    ap = argparse.ArgumentParser(description="A strict S3 + EMR stand-in for ubpipe's tests (see the module "
                                 "docstring for the protocol, faults and control endpoints).",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 = a free one")
    ap.add_argument("--access-key", default=env("STANDIN_ACCESS_KEY", "AKIDSTANDINEXAMPLE"), help="accepted key id")
    ap.add_argument("--secret-key", default=env("STANDIN_SECRET_KEY", "standin/secret/key/EXAMPLEKEY0123456789"),
                    help="its secret")
    ap.add_argument("--session-token", default=env("STANDIN_SESSION_TOKEN", ""),
                    help="when set, every request must carry exactly this token")
    ap.add_argument("--region", default=env("STANDIN_REGION", "us-east-1"), help="region requests must be signed for")
    ap.add_argument("--bucket", action="append", default=[], help="a bucket that exists (repeatable)")
    ap.add_argument("--cluster", action="append", default=[],
                    help="an EMR cluster id that exists (repeatable; none = any j-... id)")
    ap.add_argument("--faults", default=env("STANDIN_FAULTS", "[]"), help="faults to inject, JSON")
    ap.add_argument("--emr-script", default=env("STANDIN_EMR_SCRIPT", "{}"), help="EMR step state script, JSON")
    a = ap.parse_args()
    cfg = Cfg()
    cfg.access_key, cfg.secret_key, cfg.session_token, cfg.region = \
        a.access_key, a.secret_key, a.session_token, a.region
    cfg.buckets = a.bucket or [b for b in env("STANDIN_BUCKETS", "").split(",") if b]
    cfg.clusters = set(a.cluster or [c for c in env("STANDIN_CLUSTERS", "").split(",") if c])
    cfg.faults = json.loads(a.faults)
    cfg.emr_script = json.loads(a.emr_script)
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.state = State(cfg)
    print("standin: listening on 127.0.0.1:%d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
