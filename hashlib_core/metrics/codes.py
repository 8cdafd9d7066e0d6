"""Hash codes: validation, conversion to +-1, bit packing and Hamming distances.

Conventions (ARCHITECTURE.md): codes are ``(n, bits)`` arrays or tensors with bits on the last axis, entries in
``{-1, +1}``; ``{0, 1}`` (and ``bool``) is accepted on input and read as ``0 -> -1``, ``1 -> +1``. An array is
read as one convention or the other as a whole: mixing ``-1``, ``0`` and ``+1`` in one array is an error.
"""

from __future__ import annotations

import numpy as np
import torch

from ..train.devices import resolve_device

_HAS_BITWISE_COUNT = hasattr(np, "bitwise_count")  # numpy >= 2.0
_BYTE_POPCOUNT = np.array([bin(value).count("1") for value in range(256)], dtype=np.uint8)


def is_tensor(value) -> bool:
    return isinstance(value, torch.Tensor)


_CHECK_ELEMENTS = 2**20  # entries validated per block (bounds the temporaries of a large code matrix)


def _bad_values(name: str) -> ValueError:
    return ValueError(f"{name}: entries must be in {{-1, +1}} or {{0, 1}} (binarise real-valued outputs with "
                      f"sign() first)")


def as_sign_codes(codes, name: str) -> np.ndarray | torch.Tensor:
    """Validate ``codes`` and return them as int8 ``{-1, +1}`` (numpy stays numpy, a tensor stays on its device).

    ``ValueError`` naming ``name`` when the input is not 2-D or holds values other than ``{-1, +1}`` or
    ``{0, 1}`` (an array mixing -1, 0 and +1 is refused). Works in row blocks, so validating a large code matrix
    needs only a few MB of temporaries.
    """
    tensor = is_tensor(codes)
    array = codes.detach() if tensor else np.asarray(codes)
    if array.ndim != 2:
        raise ValueError(f"{name}: codes must be 2-D (n, bits), got shape {tuple(array.shape)}")
    if tensor:
        if array.is_complex():
            raise ValueError(f"{name}: codes must be real, got dtype {array.dtype}")
        out = torch.empty(array.shape, dtype=torch.int8, device=array.device)
    else:
        if array.dtype != bool and not (np.issubdtype(array.dtype, np.integer)
                                        or np.issubdtype(array.dtype, np.floating)):
            raise ValueError(f"{name}: codes must be numeric, got dtype {array.dtype}")
        out = np.empty(array.shape, dtype=np.int8)
    rows = max(1, _CHECK_ELEMENTS // max(1, array.shape[1]))
    saw_minus = saw_zero = False
    for start in range(0, array.shape[0], rows):
        block = array[start:start + rows]
        if block.dtype == (torch.bool if tensor else bool):
            plus = block
            saw_zero = saw_zero or bool((~block).any())
        else:
            plus, minus = block == 1, block == -1
            other = ~(plus | minus)
            if bool(other.any()):
                if not bool((block[other] == 0).all()):
                    raise _bad_values(name)
                saw_zero = True
            saw_minus = saw_minus or bool(minus.any())
        if saw_minus and saw_zero:
            raise ValueError(f"{name}: mixes -1, 0 and +1; use {{-1, +1}} or {{0, 1}}")
        target = out[start:start + rows]
        if tensor:
            target[...] = -1
            target[plus] = 1
        else:  # 2 * plus - 1, without a masked assignment
            np.multiply(plus, 2, out=target, dtype=np.int8)
            target -= 1
    return out


def check_code_pair(query_codes, retrieval_codes, *, query_name: str = "query_codes",
                    retrieval_name: str = "retrieval_codes"):
    """Validate both code sets (non-empty, same number of bits); return them as int8 +-1."""
    query = as_sign_codes(query_codes, query_name)
    retrieval = as_sign_codes(retrieval_codes, retrieval_name)
    if query.shape[1] != retrieval.shape[1]:
        raise ValueError(f"{query_name} have {query.shape[1]} bits but {retrieval_name} have "
                         f"{retrieval.shape[1]} bits")
    if query.shape[1] == 0:
        raise ValueError(f"{query_name}: codes have 0 bits")
    if query.shape[0] == 0:
        raise ValueError(f"{query_name}: no query codes (0 rows)")
    if retrieval.shape[0] == 0:
        raise ValueError(f"{retrieval_name}: no retrieval codes (0 rows)")
    return query, retrieval


def to_numpy(array) -> np.ndarray:
    return array.detach().cpu().numpy() if is_tensor(array) else np.asarray(array)


def pack_codes(codes) -> np.ndarray:
    """Pack ``(n, bits)`` codes into ``(n, ceil(bits / 64))`` uint64 words.

    Bit ``i`` of a code (``+1`` -> 1, ``-1``/``0`` -> 0) is bit ``i % 64`` (least significant first) of word
    ``i // 64``; unused high bits of the last word are 0, so XOR + popcount of two packed codes is their Hamming
    distance. Accepts ``{-1, +1}`` or ``{0, 1}`` numpy arrays or tensors (see :func:`as_sign_codes`).
    """
    return pack_signs(to_numpy(as_sign_codes(codes, "codes")))


def pack_signs(signs: np.ndarray) -> np.ndarray:
    """:func:`pack_codes` of codes already validated as int8 ``{-1, +1}`` (:func:`as_sign_codes`)."""
    n, bits = signs.shape
    words = max(1, -(-bits // 64))
    packed = np.zeros((n, words * 8), dtype=np.uint8)
    rows = max(1, _CHECK_ELEMENTS // max(1, bits))
    for start in range(0, n, rows):  # in row blocks: no full-size temporaries
        block = signs[start:start + rows] > 0
        packed[start:start + rows, :-(-bits // 8)] = np.packbits(block, axis=1, bitorder="little")
    return packed.view("<u8").astype(np.uint64, copy=False)


def popcount_distances(query_words: np.ndarray, retrieval_words: np.ndarray, *, out_dtype=np.uint8) -> np.ndarray:
    """Hamming distances ``(nq, nr)`` between packed codes (CPU, numpy): XOR then popcount, word by word."""
    nq, words = query_words.shape
    nr = retrieval_words.shape[0]
    result = None
    for word in range(words):
        xor = np.bitwise_xor(query_words[:, word:word + 1], retrieval_words[None, :, word])
        if _HAS_BITWISE_COUNT:
            counts = np.bitwise_count(xor)
        else:  # numpy < 2: count the bits of each byte with a table
            counts = _BYTE_POPCOUNT[xor.view(np.uint8)].reshape(nq, nr, 8).sum(axis=2, dtype=np.uint8)
        if result is None:
            result = counts.astype(out_dtype, copy=False)
        else:
            result += counts.astype(out_dtype, copy=False)
    return result


def distance_dtype(bits: int):
    """Smallest integer dtypes (numpy, torch) that hold distances 0..bits."""
    if bits <= 255:
        return np.uint8, torch.uint8
    if bits <= 32767:
        return np.int16, torch.int16
    return np.int32, torch.int32


def exact_matmul_dtype(bits: int, device: torch.device) -> torch.dtype:
    """A floating dtype in which :func:`distance_operands` give exact distances: float16 on CUDA up to 1024 bits
    (every partial sum is a multiple of 1/2 of magnitude <= bits <= 1024), else float32 (exact below 2**23
    bits)."""
    if device.type == "cuda" and bits <= 1024:
        return torch.float16
    if bits < 2**23:
        return torch.float32
    return torch.float64


def distance_operands(signs: torch.Tensor, bits: int, side: str, dtype: torch.dtype) -> torch.Tensor:
    """Operands whose product *is* the Hamming distance: query rows ``[-q/2, bits/2]``, retrieval rows ``[r, 1]``,
    so ``query_op @ retrieval_op.T = bits/2 - q.r/2 = d`` in one matrix product (zero-padded to a multiple of 8
    columns for tensor cores; the padding adds exact zeros)."""
    n = signs.shape[0]
    width = -(-(bits + 1) // 8) * 8
    out = torch.zeros((n, width), dtype=dtype, device=signs.device)
    if side == "query":
        out[:, :bits] = signs.to(dtype) * -0.5
        out[:, bits] = bits / 2
    else:
        out[:, :bits] = signs.to(dtype)
        out[:, bits] = 1
    return out


def matmul_distances(query_operands: torch.Tensor, retrieval_operands: torch.Tensor, out_dtype: torch.dtype
                     ) -> torch.Tensor:
    """Hamming distances ``(nq, nr)`` from :func:`distance_operands` (exact in their dtype)."""
    return (query_operands @ retrieval_operands.T).to(out_dtype)


def hamming_distance(a, b, *, device=None):
    """All Hamming distances between the rows of ``a`` ``(na, bits)`` and ``b`` ``(nb, bits)``.

    Returns ``(na, nb)`` int32: a numpy array, or a torch tensor on the compute device when either input is a
    tensor. ``device=None`` computes on CUDA when an input tensor lives there, else on the CPU (packed XOR +
    popcount); on CUDA the exact +-1 matrix product is used. Codes may be ``{-1, +1}`` or ``{0, 1}``.
    """
    a_signs, b_signs = check_code_pair(a, b, query_name="a", retrieval_name="b")
    bits = a_signs.shape[1]
    target = resolve_compute_device(device, a, b)
    if target.type == "cpu":
        result = popcount_distances(pack_codes(a_signs), pack_codes(b_signs), out_dtype=np.int32)
        return torch.from_numpy(result) if is_tensor(a) or is_tensor(b) else result
    dtype = exact_matmul_dtype(bits, target)
    a_dev = distance_operands(torch.as_tensor(a_signs).to(target), bits, "query", dtype)
    b_dev = distance_operands(torch.as_tensor(b_signs).to(target), bits, "retrieval", dtype)
    result = matmul_distances(a_dev, b_dev, torch.int32)
    return result if is_tensor(a) or is_tensor(b) else result.cpu().numpy()


def resolve_compute_device(device, *inputs) -> torch.device:
    """``device=None``: CUDA when any input tensor lives on CUDA, else the CPU; otherwise
    :func:`hashlib_core.train.resolve_device` (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``)."""
    if device is None:
        for value in inputs:
            if is_tensor(value) and value.device.type == "cuda":
                return value.device
        return torch.device("cpu")
    return resolve_device(device)
