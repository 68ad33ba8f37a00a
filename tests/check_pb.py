#!/usr/bin/python3
"""Decode a dnstap file with Google's protobuf library and compare every field
with the JSON description written by tests/gen_sample.

    /usr/bin/python3 tests/check_pb.py FILE.dnstap FILE.json

Run it with Debian's /usr/bin/python3, which has python3-protobuf. The Python
module is generated from dnstap.proto by protoc at run time, into a temporary
directory, so that the decoder depends on nothing of ours but the schema.

Frame Streams are parsed here, strictly: a START control frame carrying
exactly the content type "protobuf:dnstap.Dnstap", data frames, a STOP control
frame without fields, and nothing after it. Each payload must parse, be
initialised (required fields), carry no unknown fields, and re-encode to the
same bytes. Then every field of Dnstap, Message and Policy (taken from the
schema's descriptors, so new fields are not skipped) is compared with the
JSON: presence with HasField() and the value exactly.

Prints "PASS: <name>" or "FAIL: <name>: <why>" per check; exit status 1 if
any check failed, 2 on bad usage or when protoc fails.
"""

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

CONTENT_TYPE = b"protobuf:dnstap.Dnstap"
CONTROL_MAX = 512        # libfstrm's limit on a control frame body
CONTENT_TYPE_MAX = 256   # and on one CONTENT_TYPE field
CONTROL_START, CONTROL_STOP = 2, 3
FIELD_CONTENT_TYPE = 1
NOT_FIELDS = ("label", "dns")   # keys of gen_sample's JSON that are not schema fields

failures = 0


def report(ok, name, why=""):
    global failures
    if ok:
        print(f"PASS: {name}")
    else:
        failures += 1
        print(f"FAIL: {name}: {why}")


class FrameError(Exception):
    pass


def read_frames(data):
    """Return (payloads, error): the data frames read before any error, and
    the error text or None if the whole stream is well formed."""
    pos = 0
    frames = []

    def u32(what):
        nonlocal pos
        if pos + 4 > len(data):
            raise FrameError(f"file ends at byte {len(data)} inside {what}")
        v = struct.unpack_from(">I", data, pos)[0]
        pos += 4
        return v

    def control(what):
        nonlocal pos
        clen = u32(f"{what} length")
        if clen > CONTROL_MAX:
            raise FrameError(f"{what}: control frame of {clen} bytes, limit {CONTROL_MAX}")
        if clen < 4:
            raise FrameError(f"{what}: control frame of {clen} bytes has no type")
        if pos + clen > len(data):
            raise FrameError(f"{what}: file ends inside the control frame")
        end = pos + clen
        ctype = u32(f"{what} type")
        fields = []
        while pos < end:
            if end - pos < 8:
                raise FrameError(f"{what}: {end - pos} stray bytes in the control frame")
            ftype, flen = u32("field type"), u32("field length")
            if ftype != FIELD_CONTENT_TYPE:
                raise FrameError(f"{what}: unknown control field type {ftype}")
            if flen > CONTENT_TYPE_MAX or pos + flen > end:
                raise FrameError(f"{what}: content type field of {flen} bytes")
            fields.append(data[pos:pos + flen])
            pos += flen
        return ctype, fields

    try:
        if u32("the first frame") != 0:
            raise FrameError("the file does not start with a control frame")
        ctype, fields = control("START")
        if ctype != CONTROL_START:
            raise FrameError(f"first control frame is type {ctype}, not START")
        if fields != [CONTENT_TYPE]:
            raise FrameError(f"START carries content types {fields!r}, want exactly [{CONTENT_TYPE!r}]")
        while True:
            if pos == len(data):
                raise FrameError(f"no STOP frame after {len(frames)} data frames")
            at = pos
            n = u32("a frame length")
            if n == 0:
                ctype, fields = control("STOP")
                if ctype != CONTROL_STOP:
                    raise FrameError(f"control frame of type {ctype} at byte {at}, only STOP may follow START")
                if fields:
                    raise FrameError("STOP carries fields")
                if pos != len(data):
                    raise FrameError(f"{len(data) - pos} bytes after STOP")
                return frames, None
            if pos + n > len(data):
                raise FrameError(f"data frame {len(frames) + 1} at byte {at}: {n} bytes announced, "
                                 f"{len(data) - pos} left")
            frames.append(data[pos:pos + n])
            pos += n
    except FrameError as e:
        return frames, str(e)


def load_schema(proto):
    """Import the module protoc generates from dnstap.proto."""
    tmp = tempfile.mkdtemp(prefix="check_pb.")
    try:
        r = subprocess.run(["protoc", "--proto_path=" + os.path.dirname(proto),
                            "--python_out=" + tmp, proto], capture_output=True, text=True)
        if r.returncode != 0:
            sys.stderr.write(f"check_pb: protoc failed:\n{r.stderr}")
            sys.exit(2)
        sys.dont_write_bytecode = True
        sys.path.insert(0, tmp)
        import dnstap_pb2
        sys.path.remove(tmp)
        return dnstap_pb2
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def short(v):
    if isinstance(v, (bytes, bytearray)):
        h = bytes(v).hex()
        return f"{len(v)} bytes {h[:40]}{'...' if len(h) > 40 else ''}"
    if isinstance(v, str):
        return short(v.encode())
    if hasattr(v, "DESCRIPTOR"):
        return f"a {v.DESCRIPTOR.name} message"
    return repr(v)


def compare(msg, exp, path, skip=()):
    """Differences between protobuf message msg and JSON object exp."""
    errs = []
    if not isinstance(exp, dict):
        return [f"{path or 'message'}: JSON value is not an object"]
    names = {f.name for f in msg.DESCRIPTOR.fields}
    for key in exp:
        if key not in names and key not in skip:
            errs.append(f"{path}{key}: in the JSON but not a field of {msg.DESCRIPTOR.name}")
    for f in msg.DESCRIPTOR.fields:
        name, where = f.name, path + f.name
        if name in skip:
            continue
        has = msg.HasField(name)
        if name not in exp:
            if has:
                errs.append(f"{where}: present ({short(getattr(msg, name))}), JSON says absent")
            continue
        if not has:
            errs.append(f"{where}: absent, JSON says {short(exp[name])}")
            continue
        got, want = getattr(msg, name), exp[name]
        if f.type == f.TYPE_MESSAGE:
            errs += compare(got, want, where + ".")
        elif f.type in (f.TYPE_BYTES, f.TYPE_STRING):
            want = bytes.fromhex(want)
            if f.type == f.TYPE_STRING:
                got = got.encode("utf-8")
            if got != want:
                errs.append(f"{where}: {short(got)}, JSON says {short(want)}")
        elif got != want or isinstance(want, bool) or not isinstance(want, int):
            errs.append(f"{where}: {got!r}, JSON says {want!r}")
    return errs


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: /usr/bin/python3 tests/check_pb.py FILE.dnstap FILE.json\n")
        return 2
    path, json_path = sys.argv[1], sys.argv[2]
    here = os.path.dirname(os.path.abspath(__file__))
    pb = load_schema(os.path.join(os.path.dirname(here), "dnstap.proto"))
    with open(path, "rb") as f:
        data = f.read()
    with open(json_path) as f:
        expected = json.load(f)

    frames, err = read_frames(data)
    report(err is None, "pb: Frame Streams (START " + CONTENT_TYPE.decode() + ", data frames, STOP, "
           "nothing after)", err or "")
    report(len(frames) == len(expected), f"pb: message count ({len(expected)} in the JSON)",
           f"{len(frames)} data frames in the file")

    for i, payload in enumerate(frames):
        exp = expected[i] if i < len(expected) else {}
        name = f"pb: msg {exp.get('label', i + 1)}"
        d = pb.Dnstap()
        try:
            d.ParseFromString(payload)
        except Exception as e:   # DecodeError, or RuntimeWarning-like errors of the C++ backend
            report(False, name, f"protobuf parse failed: {e}")
            continue
        errs = []
        if not d.IsInitialized():
            errs.append("required fields missing: " + ", ".join(d.FindInitializationErrors()))
        known = pb.Dnstap()
        known.CopyFrom(d)
        known.DiscardUnknownFields()
        # Partial: a missing required field is reported above, not raised here.
        if known.SerializePartialToString() != d.SerializePartialToString():
            errs.append("unknown fields (or enum values the schema lacks) in the payload")
        elif d.SerializePartialToString() != payload:
            errs.append("re-encoded by protobuf, the payload differs (field order, duplicates "
                        "or non-minimal varints)")
        # Dnstap: identity, version, extra against the JSON's; type must be
        # MESSAGE; the Message against the rest of the JSON.
        top = {k: v for k, v in exp.items() if k in ("identity", "version", "extra")}
        errs += compare(d, top, "", skip=("message", "type"))
        if not d.HasField("type") or d.type != pb.Dnstap.MESSAGE:
            errs.append(f"Dnstap.type: {d.type if d.HasField('type') else 'absent'}, want MESSAGE")
        if not d.HasField("message"):
            errs.append("Dnstap.message: absent")
        else:
            rest = {k: v for k, v in exp.items() if k not in ("identity", "version", "extra") + NOT_FIELDS}
            errs += compare(d.message, rest, "message.")
        report(not errs, name, "; ".join(errs))

    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
