"""Loads plaid's C library (the Swift libraries behind `@_cdecl` functions, Sources/PlaidC) and
declares its functions for ctypes. ctypes releases the GIL during each call, so searches from
several Python threads run in parallel."""

import ctypes
import os

import numpy as np

from .errors import BY_STATUS, PlaidError

_LIBRARY_NAME = "libPlaidC.so"


def _library_path():
    # PLAID_LIBRARY points at a library built elsewhere (a development checkout's
    # .build/release/libPlaidC.so); otherwise the one installed beside this file.
    chosen = os.environ.get("PLAID_LIBRARY")
    if chosen:
        return chosen
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), _LIBRARY_NAME)


def _load():
    path = _library_path()
    if not os.path.exists(path):
        raise ImportError(
            f"plaid's native library is missing: {path} does not exist. Install the package with "
            "`pip install ./python` from the plaid repository (it builds the library with swift), "
            "or set PLAID_LIBRARY to a built libPlaidC.so."
        )
    return ctypes.CDLL(path)


lib = _load()

c_char_pp = ctypes.POINTER(ctypes.c_char_p)
c_void_pp = ctypes.POINTER(ctypes.c_void_p)
c_int64_p = ctypes.POINTER(ctypes.c_int64)
c_float_p = ctypes.POINTER(ctypes.c_float)
c_uint8_p = ctypes.POINTER(ctypes.c_uint8)
# Error sentences and JSON texts come back as malloc'd strings: received as void pointers so
# that they can be freed after reading.
_text_out = c_void_pp


def _declare(name, argtypes, restype=ctypes.c_int32):
    function = getattr(lib, name)
    function.argtypes = argtypes
    function.restype = restype
    return function


plaid_free = _declare("plaid_free", [ctypes.c_void_p], None)
plaid_version = _declare("plaid_version", [], ctypes.c_char_p)

_batch = [ctypes.c_void_p, c_int64_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p, c_int64_p, ctypes.c_char_p]
plaid_index_open = _declare("plaid_index_open", [ctypes.c_char_p, c_void_pp, _text_out])
plaid_index_close = _declare("plaid_index_close", [ctypes.c_void_p], None)
plaid_index_build = _declare("plaid_index_build", [ctypes.c_char_p, ctypes.c_char_p] + _batch + [c_void_pp, _text_out])
plaid_index_create = _declare("plaid_index_create", [ctypes.c_char_p, ctypes.c_int64, ctypes.c_char_p, c_void_pp, _text_out])
plaid_codebook_train = _declare("plaid_codebook_train", [ctypes.c_char_p, ctypes.c_char_p] + _batch + [_text_out, _text_out])
plaid_segment_build = _declare("plaid_segment_build", [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p] + _batch + [_text_out, _text_out])
plaid_index_attach = _declare("plaid_index_attach", [ctypes.c_void_p, ctypes.c_void_p, c_int64_p, ctypes.c_int64, ctypes.c_char_p, _text_out, _text_out])
plaid_index_add = _declare("plaid_index_add", [ctypes.c_void_p] + _batch + [ctypes.c_char_p, _text_out, _text_out])
plaid_index_delete = _declare("plaid_index_delete", [ctypes.c_void_p, ctypes.c_void_p, c_int64_p, ctypes.c_int64, _text_out, _text_out])
plaid_index_compact = _declare("plaid_index_compact", [ctypes.c_void_p, _text_out, _text_out])
plaid_index_info = _declare("plaid_index_info", [ctypes.c_void_p, _text_out, _text_out])
plaid_index_search = _declare("plaid_index_search", [
    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_char_p,
    ctypes.c_void_p, c_int64_p, ctypes.c_int64, c_void_pp, _text_out])
plaid_results_shape = _declare("plaid_results_shape", [ctypes.c_void_p, c_int64_p, c_int64_p, c_int64_p], None)
plaid_results_copy = _declare("plaid_results_copy", [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p], None)
plaid_results_metadata = _declare("plaid_results_metadata", [ctypes.c_void_p], ctypes.c_char_p)
plaid_results_free = _declare("plaid_results_free", [ctypes.c_void_p], None)
plaid_index_document_vectors = _declare("plaid_index_document_vectors", [
    ctypes.c_void_p, ctypes.c_void_p, c_int64_p, ctypes.c_int64, c_void_pp, _text_out])
plaid_vectors_shape = _declare("plaid_vectors_shape", [ctypes.c_void_p, c_int64_p, c_int64_p, c_int64_p], None)
plaid_vectors_copy = _declare("plaid_vectors_copy", [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p], None)
plaid_vectors_free = _declare("plaid_vectors_free", [ctypes.c_void_p], None)
plaid_rerank = _declare("plaid_rerank", [
    ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
    ctypes.c_void_p, ctypes.c_void_p, c_int64_p, _text_out])
plaid_encoder_open = _declare("plaid_encoder_open", [ctypes.c_char_p, ctypes.c_char_p, c_void_pp, _text_out])
plaid_encoder_close = _declare("plaid_encoder_close", [ctypes.c_void_p], None)
plaid_encoder_shape = _declare("plaid_encoder_shape", [ctypes.c_void_p, c_int64_p, c_int64_p], None)
plaid_encoder_encode = _declare("plaid_encoder_encode", [
    ctypes.c_void_p, ctypes.c_void_p, c_int64_p, ctypes.c_int64, ctypes.c_int32, c_void_pp, _text_out])


def path_argument(path):
    """A path as the C interface takes it: str or os.PathLike (bytes decoded as the file system
    does), without NUL, which C would silently cut the path at."""
    path = os.fsdecode(os.fspath(path))
    if "\0" in path:
        raise ValueError(f"embedded null byte in the path {path!r}")
    if not path:
        raise ValueError("the path is empty")
    return path


def integer_argument(name, value, minimum, maximum):
    """An integer argument checked before it reaches a C int64, which would wrap it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__} ({value!r})")
    value = int(value)
    if not minimum <= value <= maximum:
        raise ValueError(f"{name} must be between {minimum} and {maximum}, not {value}")
    return value


def take_text(pointer):
    """The malloc'd string at `pointer` (a c_void_p), freed; None for NULL."""
    if not pointer.value:
        return None
    try:
        return ctypes.string_at(pointer.value).decode("utf-8")
    finally:
        plaid_free(pointer)


def call(function, *args):
    """Calls `function` with `args` and a trailing error out-parameter; raises the exception of
    its status with plaid's sentence."""
    error = ctypes.c_void_p()
    status = function(*args, ctypes.byref(error))
    if status != 0:
        message = take_text(error) or "plaid failed without saying why"
        raise BY_STATUS.get(status, PlaidError)(message)


def pointer(array):
    """The address of a C-contiguous numpy array's data, for a `void *` argument."""
    return ctypes.c_void_p(array.ctypes.data) if array is not None and array.size else None


def int64_pointer(array):
    return array.ctypes.data_as(c_int64_p) if array is not None else None


class Strings:
    """Strings as the C interface takes them: one UTF-8 buffer and n + 1 int64 offsets."""

    def __init__(self, items, what):
        if isinstance(items, (str, bytes)):
            raise TypeError(f"{what} must be a list of strings, not one string; wrap it in a list: [{items!r}]")
        encoded = []
        for position, item in enumerate(items):
            if not isinstance(item, str):
                raise TypeError(
                    f"{what} must be strings; the one at position {position} is {type(item).__name__} "
                    f"({item!r}). Convert them with str() first.")
            encoded.append(item.encode("utf-8"))
        self.count = len(encoded)
        lengths = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=self.count)
        self.offsets = np.zeros(self.count + 1, dtype=np.int64)
        np.cumsum(lengths, out=self.offsets[1:])
        self.buffer = np.frombuffer(b"".join(encoded) or b"\0", dtype=np.uint8)

    @property
    def buffer_pointer(self):
        return ctypes.c_void_p(self.buffer.ctypes.data)

    @property
    def offsets_pointer(self):
        return int64_pointer(self.offsets)


def decode_terminated_strings(buffer, offsets):
    """The strings of one UTF-8 buffer (bytes) in which string i is bytes offsets[i] up to
    offsets[i + 1] - 1, each followed by a NUL (search results' ids)."""
    count = len(offsets) - 1
    text = bytes(buffer).decode("utf-8")
    parts = text.split("\0")
    if len(parts) == count + 1:  # no id holds a NUL: one split did it
        return parts[:count]
    data = bytes(buffer)
    bounds = offsets.tolist()
    return [data[bounds[i]:bounds[i + 1] - 1].decode("utf-8") for i in range(count)]


def take_vectors(handle):
    """The vectors of a `plaid_vectors_*` handle as a list of [rows, dim] float32 arrays; frees it."""
    try:
        items, rows, dim = ctypes.c_int64(), ctypes.c_int64(), ctypes.c_int64()
        plaid_vectors_shape(handle, ctypes.byref(items), ctypes.byref(rows), ctypes.byref(dim))
        # At least one element each: the C side takes non-null pointers.
        lengths = np.zeros(max(items.value, 1), dtype=np.int64)[:items.value]
        values = np.zeros((max(rows.value, 1), dim.value), dtype=np.float32)[:rows.value]
        plaid_vectors_copy(handle, ctypes.c_void_p(lengths.ctypes.data), ctypes.c_void_p(values.ctypes.data))
    finally:
        plaid_vectors_free(handle)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    return [values[bounds[i]:bounds[i + 1]] for i in range(len(lengths))]
