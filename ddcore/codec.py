"""The zarr compressor of the store: Blosc with a checksum of every chunk file.

Registered with numcodecs here and as a ``numcodecs.codecs`` entry point, so plain
``zarr.open`` reads a ddcore store wherever this package is installed.
"""

import zlib

import numcodecs
import numcodecs.abc
import numcodecs.compat


class ChecksummedBlosc(numcodecs.abc.Codec):
    """Blosc compression followed by a CRC-32 of the compressed bytes (4 bytes, little endian),
    checked before decompressing.

    Checksumming the compressed bytes instead of each field's decompressed bytes reads 4x fewer
    bytes for raw_records and ~20x fewer for images: CRC-32 runs at ~2 GB/s here, so the
    field checksums cost 0.2 s of a 3.7 s stored chain of 2,000 events.
    """

    codec_id = "ddcore_blosc_crc32"

    def __init__(self, cname="zstd", clevel=1, shuffle=numcodecs.Blosc.SHUFFLE, blocksize=0):
        self.cname, self.clevel, self.shuffle, self.blocksize = cname, clevel, shuffle, blocksize
        self._blosc = numcodecs.Blosc(cname=cname, clevel=clevel, shuffle=shuffle, blocksize=blocksize)

    def encode(self, buf):
        compressed = self._blosc.encode(buf)
        return compressed + zlib.crc32(compressed).to_bytes(4, "little")

    def decode(self, buf, out=None):
        data = memoryview(numcodecs.compat.ensure_contiguous_ndarray(buf)).cast("B")
        if len(data) < 4:
            raise ValueError("chunk file shorter than its checksum")
        body, stored = data[:-4], int.from_bytes(data[-4:], "little")
        if zlib.crc32(body) != stored:
            raise ChecksumMismatch("the chunk file does not match its CRC-32")
        return self._blosc.decode(body, out)

    def get_config(self):
        return dict(id=self.codec_id, cname=self.cname, clevel=self.clevel, shuffle=self.shuffle,
                    blocksize=self.blocksize)


class ChecksumMismatch(ValueError):
    """A chunk file's bytes differ from those written."""


numcodecs.register_codec(ChecksummedBlosc)
