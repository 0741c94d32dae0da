#!/usr/bin/python3
"""Writes the PyTorch checkpoint fixtures of tests/test_torch_checkpoint.cpp.

Run once with a Python that has torch (Debian 12: apt-get install python3-torch,
then /usr/bin/python3 make_fixtures.py from this folder); the outputs are
checked in, so the C++ test never needs torch.

Every file is written by real torch.save, or by hand and then proven loadable
by real torch.load, and expected.json records what torch.load returns for it
(dtype, shape, strides, storage offset, storage sharing, values). That JSON is
the independent truth the C++ reader is compared against.
"""
import argparse
import collections
import json
import os
import struct
import zipfile
import zlib

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(229)

DTYPE_NAMES = {
    torch.bool: "BOOL", torch.uint8: "U8", torch.int8: "I8", torch.int16: "I16",
    torch.int32: "I32", torch.int64: "I64", torch.float16: "F16",
    torch.bfloat16: "BF16", torch.float32: "F32", torch.float64: "F64",
}


# ---- the objects saved -------------------------------------------------------

class TensorSubclass(torch.Tensor):
    """Pickled through torch._tensor._rebuild_from_type_v2."""


def mapping_like():
    """A mapping_00229-model.pth.tar look-alike with every tensor layout we must read."""
    base = torch.randn(3, 6)
    long_vec = torch.randn(10)
    pair = torch.randn(2, 4)
    mapping = collections.OrderedDict()
    mapping["first.0.weight"] = torch.randn(4, 3, 5)
    mapping["first.0.bias"] = torch.randn(4)
    mapping["fc_t.weight"] = base.t()              # non-contiguous, strides (1, 6)
    mapping["fc_t.bias"] = long_vec[4:7]           # storage offset 4 in a 10-element storage
    mapping["enc.a"] = pair[0]                     # enc.a and enc.b share one storage
    mapping["enc.b"] = pair[1]
    mapping["fc_exp.weight"] = torch.randn(2, 3).half()
    mapping["steps"] = torch.tensor([3, -7, 2 ** 40], dtype=torch.int64)
    mapping["scale"] = torch.tensor(0.5)           # 0-d
    mapping["expanded"] = torch.randn(1, 4).expand(3, 4)   # stride 0
    mapping["empty"] = torch.zeros(0, 3)

    dtypes = collections.OrderedDict()
    dtypes["bool"] = torch.tensor([True, False, True])
    dtypes["u8"] = torch.tensor([0, 7, 255], dtype=torch.uint8)
    dtypes["i8"] = torch.tensor([-128, 5, 127], dtype=torch.int8)
    dtypes["i16"] = torch.tensor([-30000, 2, 30000], dtype=torch.int16)
    dtypes["i32"] = torch.tensor([-2 ** 31, 9, 2 ** 31 - 1], dtype=torch.int32)
    dtypes["f64"] = torch.tensor([1.0 / 3.0, -2.5e300, 0.0], dtype=torch.float64)
    dtypes["bf16"] = torch.tensor([1.5, -3.25, 1e30], dtype=torch.bfloat16)

    # A real optimiser state: one Adam step on a tiny model.
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(5, 3)).pow(2).sum().backward()
    opt.step()

    subclass = torch.randn(3).as_subclass(TensorSubclass)
    subclass.tag = "x"  # torch 1.13 cannot load a subclass instance without attributes

    return {
        "mapping": mapping,
        "dtypes": dtypes,
        "nested": {
            "inner": collections.OrderedDict(w=torch.arange(6.0).reshape(2, 3)),
            "param": torch.nn.Parameter(torch.randn(2)),          # _rebuild_parameter
            "subclass": subclass,  # _rebuild_from_type_v2
        },
        "epoch": 229,
        "optimizer": opt.state_dict(),
        "args": argparse.Namespace(lr=1e-4, name="mapping", sizes=[1, 2], flag=True, none=None),
    }


def batchnorm_state_dict():
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.ReLU())
    net.train()
    net(torch.randn(2, 2, 5, 5))  # running stats and num_batches_tracked = 1
    return net.state_dict()


# ---- hand-written files --------------------------------------------------------

class OldPickle:
    """Emits protocol-2 opcodes the way Python 2 wrote torch 0.2-era checkpoints:
    str keys as SHORT_BINSTRING/BINSTRING, OrderedDict reduced to a list of
    [key, value] pairs, tensors through torch._utils._rebuild_tensor, and
    storage persistent ids with view metadata."""

    def __init__(self):
        self.out = bytearray(b"\x80\x02")

    def op(self, code, payload=b""):
        self.out += code + payload

    def pystr(self, s):
        b = s.encode()
        if len(b) < 256:
            self.op(b"U", bytes([len(b)]) + b)
        else:
            self.op(b"T", struct.pack("<I", len(b)) + b)

    def long_binstring(self, s):
        b = s.encode()
        self.op(b"T", struct.pack("<I", len(b)) + b)

    def int(self, v):
        if 0 <= v < 256:
            self.op(b"K", bytes([v]))
        elif 0 <= v < 65536:
            self.op(b"M", struct.pack("<H", v))
        else:
            self.op(b"J", struct.pack("<i", v))

    def glob(self, module, name):
        self.op(b"c", module.encode() + b"\n" + name.encode() + b"\n")

    def int_tuple(self, values):
        self.op(b"(")
        for v in values:
            self.int(v)
        self.op(b"t")

    def stop(self):
        self.op(b".")
        return bytes(self.out)


def write_old_style_legacy(path):
    """A legacy (magic number) file as torch 0.2 under Python 2 wrote it, with a
    storage view. Returns nothing; torch.load checks it below."""
    pickle_mod = __import__("pickle")
    root_a = torch.randn(12)          # storage "100": two views into it
    root_b = torch.randn(4).half()    # storage "200"
    p = OldPickle()
    p.glob("collections", "OrderedDict")
    p.op(b"]")     # list of pairs, the only argument
    p.op(b"q\x00")
    p.op(b"(")

    def storage_pid(stype, key, numel, view=None, memo=None):
        p.op(b"(")
        p.pystr("storage")
        p.glob("torch", stype)
        p.pystr(key)
        p.pystr("cpu")
        p.int(numel)
        if view is None:
            p.op(b"N")
        else:
            p.pystr(view[0])
            p.int(view[1])
            p.int(view[2])
            p.op(b"\x87")  # TUPLE3
        p.op(b"t")
        if memo is not None:
            p.op(b"q", bytes([memo]))
        p.op(b"Q")

    def tensor(name, pid_writer, offset, size, stride, name_opcode=None):
        p.op(b"]")
        p.op(b"(")
        if name_opcode == "T":
            p.long_binstring(name)
        else:
            p.pystr(name)
        p.glob("torch._utils", "_rebuild_tensor")
        p.op(b"(")
        pid_writer()
        p.int(offset)
        p.int_tuple(size)
        p.int_tuple(stride)
        p.op(b"t")
        p.op(b"R")
        p.op(b"e")  # APPENDS -> [name, tensor]

    # "conv.weight": whole root_a as (3, 4)
    tensor("conv.weight", lambda: storage_pid("FloatStorage", "100", 12, memo=5), 0, (3, 4), (4, 1))
    # "conv.bias": view storage "101" = root_a[8:12], tensor = view[1:3]
    tensor("conv.bias", lambda: storage_pid("FloatStorage", "100", 12, ("101", 8, 4)), 1, (2,), (1,),
           name_opcode="T")
    # "fc.weight": same root storage again through the memo (BINGET 5), transposed
    tensor("fc.weight", lambda: p.op(b"h\x05Q"), 0, (4, 3), (1, 4))
    tensor("half", lambda: storage_pid("HalfStorage", "200", 4), 0, (2, 2), (2, 1))
    p.op(b"e")     # APPENDS into the outer list
    p.op(b"\x85")  # TUPLE1 -> args
    p.op(b"R")
    main = p.stop()

    with open(path, "wb") as f:
        pickle_mod.dump(0x1950A86A20F9469CFC6C, f, protocol=2)
        pickle_mod.dump(1001, f, protocol=2)
        sysinfo = OldPickle()
        sysinfo.op(b"}")
        sysinfo.op(b"(")
        sysinfo.pystr("little_endian")
        sysinfo.op(b"\x88")
        sysinfo.pystr("protocol_version")
        sysinfo.int(1001)
        sysinfo.pystr("type_sizes")
        sysinfo.op(b"}")
        sysinfo.op(b"(")
        for k, v in (("int", 4), ("long", 8), ("short", 2)):
            sysinfo.pystr(k)
            sysinfo.int(v)
        sysinfo.op(b"u")
        sysinfo.op(b"u")
        f.write(sysinfo.stop())
        f.write(main)
        keys = OldPickle()
        keys.op(b"]")
        keys.op(b"(")
        keys.pystr("100")
        keys.pystr("200")
        keys.op(b"e")
        f.write(keys.stop())
        for t in (root_a, root_b):
            f.write(struct.pack("<q", t.numel()))
            f.write(t.numpy().tobytes() if t.dtype != torch.float16 else t.view(torch.int16).numpy().tobytes())


def zip_records(path):
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def write_zip64(path, records):
    """Stored zip whose central directory uses zip64 extra fields for sizes and
    offsets, plus the zip64 end records: torch writes these only past 4 GB, so
    the reader's zip64 path is tested on a small file made by hand."""
    out = bytearray()
    central = bytearray()
    for name, data in records:
        nb = name.encode()
        crc = zlib.crc32(data)
        offset = len(out)
        # Local header with a zip64 extra (sizes), data aligned to 64 bytes like torch.
        local_extra = struct.pack("<HHQQ", 1, 16, len(data), len(data))
        pad = (-(len(out) + 30 + len(nb) + len(local_extra) + 4)) % 64
        local_extra += struct.pack("<HH", 0x4246, pad) + b"Z" * pad
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0x21, crc,
                           0xFFFFFFFF, 0xFFFFFFFF, len(nb), len(local_extra))
        out += nb + local_extra + data
        cd_extra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), offset)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0x21, crc,
                               0xFFFFFFFF, 0xFFFFFFFF, len(nb), len(cd_extra), 0, 0, 0, 0,
                               0xFFFFFFFF)
        central += nb + cd_extra
    cd_offset = len(out)
    out += central
    eocd64_offset = len(out)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(records), len(records),
                       len(central), cd_offset)
    out += struct.pack("<IIQI", 0x07064B50, 0, eocd64_offset, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    with open(path, "wb") as f:
        f.write(out)


def write_deflated(path, records):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in records:
            z.writestr(name, data)


# ---- plain pickles -------------------------------------------------------------

def plain_object():
    shared = [1]
    return {
        "int": 5, "neg": -7, "i16": 40000, "i32": -2 ** 31, "i64max": 2 ** 63 - 1, "i64min": -2 ** 63,
        "big": 2 ** 70, "negbig": -(2 ** 70) + 3, "float": 1.5, "tiny": -2.5e-300,
        "str": "h\u00e9llo \u2713", "long_str": "x" * 300, "bytes": b"\x00\xff\x80a", "empty_bytes": b"",
        "bytearray": bytearray(b"xy\xfe"), "list": [1, [2, 3], []], "tuple0": (), "tuple1": (1,),
        "tuple2": (1, 2), "tuple3": (1, 2, 3), "tuple4": (1, 2, 3, 4), "dict": {1: "x", "k": None},
        "set": {7}, "frozenset": frozenset({8}), "true": True, "false": False,
        "od": collections.OrderedDict([("a", 1), ("b", 2)]), "shared": shared, "again": shared,
    }


def tagged(v):
    """The JSON form the C++ test compares its value tree against."""
    if v is None:
        return {"none": None}
    if isinstance(v, bool):
        return {"bool": v}
    if isinstance(v, int):
        return {"int": str(v)}
    if isinstance(v, float):
        return {"float": v}
    if isinstance(v, str):
        return {"str": v}
    if isinstance(v, (bytes, bytearray)):
        return {"bytes": v.hex()}
    if isinstance(v, list):
        return {"list": [tagged(x) for x in v]}
    if isinstance(v, tuple):
        return {"tuple": [tagged(x) for x in v]}
    if isinstance(v, dict):
        return {"dict": [[tagged(k), tagged(x)] for k, x in v.items()]}
    if isinstance(v, (set, frozenset)):
        return {type(v).__name__: [tagged(x) for x in v]}
    raise TypeError(type(v))


def write_plain_pickles():
    """Python's own pickler at protocols 1-5 (torch.save may pass any of
    them), and a self-containing list the reader must reject."""
    import pickle
    obj = plain_object()
    out = {"value": tagged(obj), "files": []}
    for proto in range(1, 6):
        name = f"plain_p{proto}.pkl"
        with open(os.path.join(HERE, name), "wb") as f:
            pickle.dump(obj, f, protocol=proto)
        assert pickle.load(open(os.path.join(HERE, name), "rb")) == obj
        out["files"].append(name)
    loop = []
    loop.append(loop)
    with open(os.path.join(HERE, "recursive.pkl"), "wb") as f:
        pickle.dump(loop, f, protocol=2)
    return out


# ---- expected values -----------------------------------------------------------

def describe(obj, prefix, out, groups):
    """Flattens what torch.load returned: tensors with their layout and values,
    plain scalars and strings as they are."""
    if isinstance(obj, torch.Tensor):
        storage = obj.untyped_storage() if hasattr(obj, "untyped_storage") else obj.storage().untyped()
        ptr = storage.data_ptr()
        group = groups.setdefault(ptr, len(groups))
        flat = obj.detach().reshape(-1)
        if obj.dtype in (torch.float16, torch.bfloat16):
            flat = flat.float()
        out[prefix] = {
            "dtype": DTYPE_NAMES[obj.dtype],
            "shape": list(obj.shape),
            "stride": list(obj.stride()),
            "offset": obj.storage_offset(),
            "storage_group": group,
            "storage_nbytes": storage.nbytes(),
            "values": [bool(v) if obj.dtype == torch.bool else v for v in flat.tolist()],
        }
    elif isinstance(obj, dict):
        for k, v in obj.items():
            describe(v, f"{prefix}.{k}" if prefix else str(k), out, groups)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            describe(v, f"{prefix}[{i}]", out, groups)
    elif isinstance(obj, argparse.Namespace):
        describe(vars(obj), prefix + "@", out, groups)
    elif obj is None or isinstance(obj, (bool, int, float, str)):
        out[prefix] = obj
    else:
        raise TypeError(f"{prefix}: {type(obj)}")


def main():
    expected = {}

    def record(name, fmt, key_order=None):
        path = os.path.join(HERE, name)
        loaded = torch.load(path, map_location="cpu")
        flat = {}
        describe(loaded, "", flat, {})
        expected[name] = {
            "format": fmt,
            "top_level_keys": [str(k) for k in loaded.keys()],
            "entries": flat,
        }
        size = os.path.getsize(path)
        assert size < 50 * 1024, (name, size)
        print(f"{name}: {size} bytes, {len(flat)} entries")

    obj = mapping_like()
    torch.save(obj, os.path.join(HERE, "mapping_zip.pth.tar"))
    record("mapping_zip.pth.tar", "zip")
    torch.save(obj, os.path.join(HERE, "mapping_legacy.pth.tar"), _use_new_zipfile_serialization=False)
    record("mapping_legacy.pth.tar", "legacy")
    torch.save(obj, os.path.join(HERE, "mapping_proto4.pth"), pickle_protocol=4)
    record("mapping_proto4.pth", "zip")

    records = zip_records(os.path.join(HERE, "mapping_zip.pth.tar"))
    write_zip64(os.path.join(HERE, "mapping_zip64.pth.tar"), records)
    with zipfile.ZipFile(os.path.join(HERE, "mapping_zip64.pth.tar")) as z:  # an independent reader agrees
        assert [(i.filename, z.read(i.filename)) for i in z.infolist()] == records
    record("mapping_zip64.pth.tar", "zip")
    write_deflated(os.path.join(HERE, "deflated.pth"), records)
    with zipfile.ZipFile(os.path.join(HERE, "big_endian.pth"), "w") as z:  # stored, like torch
        for name, data in records:
            z.writestr(name, data)
        z.writestr(records[0][0].split("/")[0] + "/byteorder", b"big")

    bn = batchnorm_state_dict()
    torch.save(bn, os.path.join(HERE, "bn_root.pth"))
    record("bn_root.pth", "zip")
    torch.save(bn, os.path.join(HERE, "bn_root_legacy.pth"), _use_new_zipfile_serialization=False)
    record("bn_root_legacy.pth", "legacy")
    torch.save({"state_dict": collections.OrderedDict(("module." + k, v) for k, v in bn.items()),
                "global_step": 7,
                # "module.a" and "a" collide once the prefix is stripped
                "collide": collections.OrderedDict([("module.a", torch.ones(2)), ("a", torch.zeros(2))])},
               os.path.join(HERE, "module_prefixed.pth"))
    record("module_prefixed.pth", "zip")

    write_old_style_legacy(os.path.join(HERE, "old_style_legacy.model"))
    record("old_style_legacy.model", "legacy")

    expected["pickles"] = write_plain_pickles()

    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, sort_keys=True, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
