"""Reading NVIDIA network pickles without running the code inside them.

stylegan2-ada-pytorch and stylegan3 save networks with ``torch_utils.persistence``: every
network object is pickled as a call ``_reconstruct_persistent_obj(meta)`` whose ``meta``
holds the full Python source of the module that defined the class (``module_src``), the class
name and the object's state (its ``__dict__``: ``_parameters``, ``_buffers``, ``_modules``,
the constructor's ``_init_kwargs`` and plain attributes). NVIDIA's loader ``exec``s
``module_src`` to rebuild the class, so unpickling such a file the usual way runs whatever
code it carries.

Here a restricted unpickler admits only the globals such a file needs, each replaced by a
function of ours: the persistent-object call builds a :class:`PersistentRecord` (the source is
kept as text and never executed), tensors are rebuilt by torch's own tensor functions from
storages read with ``torch.load(weights_only=True)``, and numpy arrays, ``OrderedDict`` and
``EasyDict`` (a plain dict here) are plain data. Any other global is refused in one line.

The source is identified by its sha256 (:data:`KNOWN_SOURCES`, after removing a byte order
mark and normalising line endings): a known NVIDIA release, or not.
"""
from __future__ import annotations

import hashlib
import io
import pickle
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ...errors import InputError, WeightsError
from ...io import describe_file

#: sha256 of each released NVIDIA network source, as ``persistence`` stores it (a leading byte order mark
#: removed, line endings "\n") -> (architecture, origin). Computed from the repositories' files at every
#: commit of their main branch that changed them (``git log -- FILE``); removing the byte order marks
#: (stylegan3 583f2bd) does not change the stored source, so each file has one released version.
KNOWN_SOURCES = {
    # NVlabs/stylegan2-ada-pytorch training/networks.py: 375a436 (2021-01-30), unchanged to d72cc7d (2021-04)
    "53b4e1ec457171d4e2c1454d48013765ab626141c35cdd383b020950effe11a5":
        ("stylegan2", "NVlabs/stylegan2-ada-pytorch training/networks.py"),
    # NVlabs/stylegan3 training/networks_stylegan2.py: 8fb5177 (2021-10-07), 583f2bd, unchanged to c233a91 (2022)
    "b6f14e8fa2a95de4d38218fef31380c6a70de770f585107e209ff83075c307ef":
        ("stylegan2", "NVlabs/stylegan3 training/networks_stylegan2.py"),
    # NVlabs/stylegan3 training/networks_stylegan3.py: 8fb5177 (2021-10-07), 583f2bd, unchanged to c233a91 (2022)
    "06082fb3e8929e477f58fb8bc78e7ecb9a9209eb01444272d1d153c85a6a89f7":
        ("stylegan3", "NVlabs/stylegan3 training/networks_stylegan3.py"),
}

#: the version of NVIDIA's ``torch_utils.persistence`` format read here (the same in both repositories)
PERSISTENCE_VERSION = 6


class EasyDict(dict):
    """Stands in for ``dnnlib.util.EasyDict``: a plain dict (NVIDIA's adds attribute access only)."""


@dataclass
class PersistentRecord:
    """A persistent network object, as data: its class, source and state (nothing of it is run).

    Attributes:
        class_name: the class's name in its module (e.g. ``Generator``, ``SynthesisLayer``).
        module_src: the source of the module that defined it (text; never executed).
        version: the persistence format version.
        state: the object's ``__dict__``: ``_parameters``, ``_buffers``, ``_modules`` (records),
            ``_init_kwargs``, plain attributes.
    """

    class_name: str
    module_src: str
    version: int
    state: dict = field(repr=False)

    @property
    def source_sha256(self) -> str:
        """sha256 of the module source (byte order mark removed, "\\r\\n" -> "\\n")."""
        return source_sha256(self.module_src)

    @property
    def init_kwargs(self) -> dict:
        return dict(self.state.get("_init_kwargs") or {})

    def children(self) -> dict:
        """Submodule name -> record (or None, for a submodule set to None)."""
        return dict(self.state.get("_modules") or {})

    def tensors(self, prefix: str = "") -> tuple[dict, set]:
        """Every parameter and buffer of the tree, by dotted name, and the names of buffers set to None."""
        found, empty = {}, set()
        for kind in ("_parameters", "_buffers"):
            for name, value in (self.state.get(kind) or {}).items():
                if value is None:
                    empty.add(prefix + name)
                else:
                    found[prefix + name] = value
        for name, child in self.children().items():
            if isinstance(child, PersistentRecord):
                more, none = child.tensors(f"{prefix}{name}.")
                found.update(more)
                empty |= none
        return found, empty


def source_sha256(src: str) -> str:
    """sha256 of a module source as :data:`KNOWN_SOURCES` keys it."""
    return hashlib.sha256(src.lstrip("\ufeff").replace("\r\n", "\n").encode("utf-8")).hexdigest()


def known_source(src: str) -> tuple[str, str] | None:
    """(architecture, origin) of a released NVIDIA source, or None."""
    return KNOWN_SOURCES.get(source_sha256(src))


def _reconstruct_persistent_obj(meta) -> PersistentRecord:
    if not isinstance(meta, dict) or not isinstance(meta.get("module_src"), str) or \
            not isinstance(meta.get("class_name"), str) or not isinstance(meta.get("state"), dict):
        raise pickle.UnpicklingError("a persistent object without module_src, class_name and state")
    return PersistentRecord(meta["class_name"], meta["module_src"], meta.get("version"), dict(meta["state"]))


def _load_storage(payload: bytes):
    """``torch.storage._load_from_bytes``, weights only: a storage in torch's legacy format."""
    return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)


def _latin1(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for bytes (latin-1 only)."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError("_codecs.encode is admitted for latin-1 bytes only")
    return text.encode("latin1")


#: (module, name) -> the object the unpickler returns for it; every other global is refused
ALLOWED = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("_codecs", "encode"): _latin1,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):  # numpy 1 and numpy 2 pickles
    ALLOWED[(_module, "_reconstruct")] = np.ndarray.__reduce__(np.zeros(0))[0]
    ALLOWED[(_module, "scalar")] = np.float64(0).__reduce__()[0]


class _Refused(pickle.UnpicklingError):
    def __init__(self, module: str, name: str):
        super().__init__(f"{module}.{name}")
        self.module, self.name = module, name


class RestrictedUnpickler(pickle.Unpickler):
    """A pickle reader that returns :data:`ALLOWED` objects for globals and refuses every other."""

    def find_class(self, module, name):
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(module, name) from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids are not used by NVIDIA network pickles")


def read_network_pickle(path) -> dict:
    """The top-level dict of an NVIDIA network pickle, with networks as :class:`PersistentRecord`.

    Raises:
        InputError: the file does not exist.
        WeightsError: not a pickle, truncated or corrupt, a global outside the allow-list (named),
            a TensorFlow-era pickle (with how to convert it), or not a dict of networks.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"NVIDIA network pickle not found: {path}", argument="model")
    kind = describe_file(path)
    if kind != "a pickle file":
        raise WeightsError(f"{path} is {kind or 'not a pickle file'}, not an NVIDIA network pickle "
                           f"(stylegan2-ada-pytorch / stylegan3 .pkl)")
    try:
        with open(path, "rb") as f:
            data = RestrictedUnpickler(f).load()
    except _Refused as exc:
        if exc.module.startswith("dnnlib.tflib"):
            raise WeightsError(f"{path} is a TensorFlow-era StyleGAN pickle: convert it with NVIDIA's "
                               f"stylegan2-ada-pytorch (`python legacy.py --source={path.name} --dest=converted.pkl`, "
                               f"which runs that file's code: only for a file you trust), then load the converted "
                               f"file") from None
        raise WeightsError(f"{path} needs the global {exc.module}.{exc.name}, which an NVIDIA network pickle does "
                           f"not use; refused without running anything") from None
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            RuntimeError, MemoryError, UnicodeDecodeError, RecursionError) as exc:
        raise WeightsError(f"{path} is truncated or corrupt: not a readable NVIDIA network pickle "
                           f"({type(exc).__name__})") from None
    if not isinstance(data, dict) or not any(isinstance(v, PersistentRecord) for v in data.values()):
        raise WeightsError(f"{path} is a pickle but not an NVIDIA network snapshot (a dict holding G_ema, G, D)")
    return data


def network_record(data: dict, network: str, path: Path) -> PersistentRecord:
    """The record of ``network`` ("G_ema", "G") in a snapshot read by :func:`read_network_pickle`.

    Raises:
        InputError: the file does not hold that network (names what it holds).
        WeightsError: the entry is not a persistent network, or in another persistence format version.
    """
    record = data.get(network)
    if record is None:
        held = ", ".join(k for k in ("G_ema", "G", "D") if data.get(k) is not None) or "no network"
        raise InputError(f"{path.name} holds {held}, not {network}", argument="network")
    if not isinstance(record, PersistentRecord):
        raise WeightsError(f"{path.name}: {network} is a {type(record).__name__}, not an NVIDIA network")
    if record.version != PERSISTENCE_VERSION:
        raise WeightsError(f"{path.name}: {network} was saved in persistence format version {record.version}; "
                           f"ganmetric reads version {PERSISTENCE_VERSION} (stylegan2-ada-pytorch and stylegan3)")
    return record
