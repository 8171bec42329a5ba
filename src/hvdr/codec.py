"""The data converter every hvdr client and worker uses: large payloads compressed, and the optional AES-GCM
payload codec.

Payloads over :data:`COMPRESS_ABOVE` bytes travel zlib-compressed (encoding ``binary/zlib``): a 1,000-VM plan's
report is about 2.2 MB of JSON, over Temporal's 2 MB payload limit, and compresses about tenfold. Smaller ones —
nearly all — stay as they are, so the web UI shows them without a codec server.

With a key configured (``HVDR_CODEC_KEYS`` or ``HVDR_CODEC_KEY_FILE``), every payload hvdr hands Temporal —
workflow and activity inputs and results, memos, summaries, update arguments, failure messages and stack
traces — is encrypted before it leaves the process, so Temporal's database holds nothing readable about the
estate. What Temporal must index stays clear by design: workflow ids and search attributes.

Keys are ``ID:BASE64`` pairs (16, 24 or 32 bytes: AES-128/192/256). The first one encrypts; every one
decrypts, chosen by the key id each payload carries in its metadata, so a key is rotated by putting the new
one first and keeping the old one until the runs it wrote have ended (or been continued as new).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import zlib
from collections.abc import Mapping, Sequence

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from hvdr.errors import CodecKeyError, ConfigError
from hvdr.settings import CodecSettings, Settings

# Workflow modules import the hvdr package (and so this module) inside Temporal's sandbox, which cannot load
# cryptography's Rust extension a second time.
with workflow.unsafe.imports_passed_through():
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

COMPRESSED = b"binary/zlib"
COMPRESS_ABOVE = 256 * 1024
"""Bytes of a serialized payload above which it is compressed (Temporal refuses payloads over 2 MB)."""
ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
_NONCE = 12


class CompressionCodec(PayloadCodec):
    """zlib over payloads larger than :data:`COMPRESS_ABOVE`; anything else passes through both ways."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.compress(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decompress(p) for p in payloads]

    @staticmethod
    def compress(payload: Payload) -> Payload:
        if payload.ByteSize() <= COMPRESS_ABOVE:
            return payload
        return Payload(metadata={"encoding": COMPRESSED}, data=zlib.compress(payload.SerializeToString(), 6))

    @staticmethod
    def decompress(payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != COMPRESSED:
            return payload
        decoded = Payload()
        decoded.ParseFromString(zlib.decompress(payload.data))
        return decoded


class CodecChain(PayloadCodec):
    """Codecs applied in order on the way out and in reverse on the way in (compress, then encrypt)."""

    def __init__(self, *codecs: PayloadCodec) -> None:
        self.codecs = codecs

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = list(payloads)
        for codec in self.codecs:
            out = await codec.encode(out)
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = list(payloads)
        for codec in reversed(self.codecs):
            out = await codec.decode(out)
        return out


class AesGcmCodec(PayloadCodec):
    """AES-GCM over whole payloads; the key id travels in the payload's metadata (and is authenticated)."""

    def __init__(self, keys: Mapping[str, bytes], current: str | None = None) -> None:
        if not keys:
            raise ConfigError("the payload codec needs at least one key (HVDR_CODEC_KEYS or HVDR_CODEC_KEY_FILE)")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.current = current or next(iter(keys))
        if self.current not in self._ciphers:
            raise ConfigError(f"the current codec key id {self.current!r} is not among the keys")

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(_NONCE)
        key_id = self.current.encode()
        sealed = self._ciphers[self.current].encrypt(nonce, payload.SerializeToString(), key_id)
        return Payload(metadata={"encoding": ENCODING, KEY_ID: key_id}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before the codec was turned on: stays readable
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise CodecKeyError(
                f"a payload is encrypted with codec key id {key_id!r}, which is not configured "
                f"(known: {', '.join(self.key_ids)}): add that key to HVDR_CODEC_KEYS or HVDR_CODEC_KEY_FILE"
            )
        try:
            clear = cipher.decrypt(payload.data[:_NONCE], payload.data[_NONCE:], key_id.encode())
        except InvalidTag as exc:
            raise CodecKeyError(
                f"a payload with codec key id {key_id!r} does not decrypt with the key configured under that id: "
                "the key is wrong (or the payload was altered); configure the key that wrote it"
            ) from exc
        decoded = Payload()
        decoded.ParseFromString(clear)
        return decoded


def parse_keys(text: str, source: str) -> dict[str, bytes]:
    """``ID:BASE64`` entries separated by commas or new lines ('#' starts a comment), in order."""
    keys: dict[str, bytes] = {}
    for raw in text.replace(",", "\n").splitlines():
        entry = raw.split("#", 1)[0].strip()
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not key_id:
            raise ConfigError(f"{source}: expected ID:BASE64KEY entries, got {entry[:20]!r}…")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except binascii.Error as exc:
            raise ConfigError(f"{source}: the key with id {key_id!r} is not valid base64") from exc
        if len(key) not in (16, 24, 32):
            raise ConfigError(
                f"{source}: the key with id {key_id!r} is {len(key)} bytes; AES-GCM needs 16, 24 or 32 "
                "(make one with `openssl rand -base64 32`)"
            )
        if key_id in keys:
            raise ConfigError(f"{source}: key id {key_id!r} appears twice")
        keys[key_id] = key
    return keys


def load_codec(codec: CodecSettings) -> AesGcmCodec | None:
    """The codec the settings ask for, or None when no key is configured."""
    if not codec.enabled:
        return None
    keys: dict[str, bytes] = {}
    if codec.keys:
        keys.update(parse_keys(codec.keys, "HVDR_CODEC_KEYS"))
    if codec.key_file is not None:
        try:
            text = codec.key_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the codec key file {codec.key_file}: {exc.strerror}") from exc
        for key_id, key in parse_keys(text, f"codec key file {codec.key_file}").items():
            if key_id in keys and keys[key_id] != key:
                raise ConfigError(f"codec key id {key_id!r} has different keys in HVDR_CODEC_KEYS and {codec.key_file}")
            keys.setdefault(key_id, key)
    if not keys:
        raise ConfigError("the codec key settings hold no key: add an ID:BASE64KEY entry")
    return AesGcmCodec(keys)


def payload_codec(settings: Settings) -> CodecChain:
    """What hvdr does to every payload: compress the large ones, then encrypt when keys are set."""
    codec = load_codec(settings.codec)
    return CodecChain(CompressionCodec()) if codec is None else CodecChain(CompressionCodec(), codec)


CONVERTER = dataclasses.replace(pydantic_data_converter, payload_codec=CodecChain(CompressionCodec()))


def data_converter(settings: Settings) -> DataConverter:
    """hvdr's pydantic data converter: large payloads compressed; with keys set, every payload encrypted (and
    failure messages encoded)."""
    if not settings.codec.enabled:
        return CONVERTER
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=payload_codec(settings),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
