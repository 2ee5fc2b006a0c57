"""The learned codec's bitstream container (``.nlc``): one file, one or more frames.

Layout (little-endian), version 1::

    magic      4  b"NMLC"
    version    1  1
    flags      1  0 (reserved)
    model_id  16  first 16 bytes of SHA-256 over the model's analysis ONNX, synthesis
                  ONNX and entropy tables: a stream only decodes with the model it was
                  made with
    width      2, height 2, frames 4
    per frame: payload length 4, CRC-32 of the payload 4
    header CRC-32 4 (everything above)
    payloads, back to back

Version 2 is the same layout for the TEMPORAL mode (:mod:`studio.codec.learned.temporal`):
each payload starts with one frame-type byte, ``I`` (a picture) or ``P`` (the residual
against the previous decoded frame). Version 1 files (every frame a picture) still read.

Why the checksums: an ANS stream with a flipped bit usually still "decodes" to wrong
latents; the CRCs turn damage into a clear error instead of a silently wrong picture. The
header costs 34 + 8 per frame bytes and is counted in the rate like every other byte.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from studio.jobs import UserError

MAGIC = b"NMLC"
VERSION = 1
VERSION_TEMPORAL = 2
MODEL_ID_BYTES = 16
_HEAD = struct.Struct("<4sBB16sHHI")
_FRAME = struct.Struct("<II")
_CRC = struct.Struct("<I")


class BitstreamError(UserError):
    """A learned-codec file that cannot be decoded; the message names the file and why."""


@dataclass
class Bitstream:
    model_id: bytes
    width: int
    height: int
    payloads: list[bytes] = field(default_factory=list)
    temporal: bool = False      # version 2: payloads start with a frame-type byte

    def to_bytes(self) -> bytes:
        if len(self.model_id) != MODEL_ID_BYTES:
            raise ValueError(f"model id must be {MODEL_ID_BYTES} bytes")
        if not (0 < self.width <= 0xFFFF and 0 < self.height <= 0xFFFF):
            raise ValueError(f"picture size {self.width}x{self.height} outside 1..65535")
        head = _HEAD.pack(MAGIC, VERSION_TEMPORAL if self.temporal else VERSION, 0,
                          self.model_id, self.width, self.height, len(self.payloads))
        head += b"".join(_FRAME.pack(len(p), zlib.crc32(p)) for p in self.payloads)
        return head + _CRC.pack(zlib.crc32(head)) + b"".join(self.payloads)

    def write(self, path: str | os.PathLike) -> int:
        """Write atomically (a temp file beside it, then rename): never a half file."""
        data = self.to_bytes()
        p = Path(path)
        tmp = p.with_name(f".{p.name}.part")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, p)
        finally:
            tmp.unlink(missing_ok=True)
        return len(data)

    @classmethod
    def parse(cls, data: bytes, where: str = "bitstream") -> "Bitstream":
        if len(data) < _HEAD.size:
            raise BitstreamError(f"{where}: truncated ({len(data)} bytes; the header alone "
                                 f"is {_HEAD.size + _CRC.size})")
        magic, version, _flags, model_id, w, h, frames = _HEAD.unpack_from(data, 0)
        if magic != MAGIC:
            raise BitstreamError(f"{where}: not a learned-codec bitstream (magic {magic!r}, "
                                 f"expected {MAGIC!r})")
        if version not in (VERSION, VERSION_TEMPORAL):
            raise BitstreamError(f"{where}: bitstream version {version}; this build reads "
                                 f"versions {VERSION} and {VERSION_TEMPORAL}")
        table_end = _HEAD.size + frames * _FRAME.size
        if len(data) < table_end + _CRC.size:
            raise BitstreamError(f"{where}: truncated inside the header ({len(data)} bytes)")
        (crc,) = _CRC.unpack_from(data, table_end)
        if zlib.crc32(data[:table_end]) != crc:
            raise BitstreamError(f"{where}: header damaged (checksum mismatch)")
        entries = [_FRAME.unpack_from(data, _HEAD.size + i * _FRAME.size)
                   for i in range(frames)]
        pos = table_end + _CRC.size
        need = pos + sum(n for n, _ in entries)
        if len(data) < need:
            raise BitstreamError(f"{where}: truncated: {len(data)} bytes, the header "
                                 f"promises {need}")
        if len(data) > need:
            raise BitstreamError(f"{where}: {len(data) - need} unexpected bytes after the "
                                 f"last frame")
        payloads = []
        for i, (n, fcrc) in enumerate(entries):
            p = data[pos:pos + n]
            if zlib.crc32(p) != fcrc:
                raise BitstreamError(f"{where}: frame {i} damaged (checksum mismatch)")
            payloads.append(p)
            pos += n
        return cls(model_id, w, h, payloads, version == VERSION_TEMPORAL)

    @classmethod
    def read(cls, path: str | os.PathLike) -> "Bitstream":
        p = Path(path)
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            raise BitstreamError(f"{p}: no such file") from None
        except OSError as exc:
            raise BitstreamError(f"{p}: cannot read ({exc.strerror or exc})") from None
        return cls.parse(data, str(p))
