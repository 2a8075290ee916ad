"""Model provenance: what made a generator, written into every result file and checked on reuse.

A result, axis or batch file records the generator's identity (:func:`model_meta`): the
model as the user named it, the latent space and size, and ``model_options``, every option
that changes the map with the value in effect (a conditional model's class, BigGAN's
truncation, class and reference seed, StyleGAN2's truncation, a custom module's output
range, ...) plus where the weights came from (``weights``: the verified pretrained file's
digest, a user's file with its sha256, seeded random weights, or None for untrained
initial weights) and, for a model file, its sha256.

A consumer of such a file (axes, explore, invert, a resumed batch, the viewer) rebuilds
the generator from the record (:func:`load_recorded_generator`), letting the user name
the model or options again, and refuses any difference in one line
(:func:`check_same_model`).

A file's record never decides what code runs or which file is loaded: it rebuilds a model by
itself only when the model is a pretrained config's name
(:func:`~ganmetric.generators.registry.is_pretrained_name`). Any other model (a
``module:factory``, a saved program file, a config file, any kind added later) and any
user's weights file must be named by the user, and is then checked against the record.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InputError
from ..io import jsonable

#: the model the CLI uses when none is named and no file records one
DEFAULT_MODEL = "dcgan-face"
#: meta keys that describe the generator
MODEL_KEYS = ("model", "latent_space", "latent_dim", "model_options")


def model_meta(G) -> dict:
    """The generator's identity, as recorded in result files (strict-JSON values).

    Args:
        G: a :class:`~ganmetric.Generator` (or a module with ``name``, ``latent_dim``...).

    Returns:
        ``{"model", "latent_space", "latent_dim", "model_options"}``; ``model_options``
        holds ``G.map_options()``, ``weights`` and (for model files) ``file_sha256``.
    """
    options = dict(G.map_options()) if hasattr(G, "map_options") else {}
    options["weights"] = getattr(G, "weights", "unknown")
    if getattr(G, "file_sha256", None):
        options["file_sha256"] = G.file_sha256
    return jsonable({"model": getattr(G, "name", None), "latent_space": getattr(G, "latent_space", None),
                     "latent_dim": int(G.latent_dim), "model_options": options})


@dataclass(frozen=True)
class ModelSpec:
    """A request for a generator: a model name or path, a latent space and options.

    Fields left as None were not given; :meth:`over` fills them from another spec (e.g. the
    one a result file records).

    Attributes:
        model: registry name, config ``.json``, saved generator file or ``module.path:factory``.
        latent_space: the latent space, or None for the model's default.
        options: loader options (``class_name``, ``weights``, ``truncation``, ...); None values
            are dropped.
    """

    model: str | None = None
    latent_space: str | None = None
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "options", {k: v for k, v in dict(self.options).items() if v is not None})

    @classmethod
    def from_meta(cls, meta: dict) -> "ModelSpec":
        """The spec that rebuilds the generator a file's meta records, less its weights.

        Options the model's loader does not take are left out, and so is the ``weights``
        record: a user's weights file is loaded only when the user names it (see
        :func:`load_recorded_generator`), never because a file's record holds its path.
        """
        from .registry import loader_options
        recorded = dict(meta.get("model_options") or {})
        recorded.pop("weights", None)
        options = {k: v for k, v in recorded.items() if v is not None}
        model = meta.get("model")
        if model is not None:
            accepted = loader_options(model)
            if accepted is not None:
                if "latent_dim" in accepted and meta.get("latent_dim") is not None:
                    options.setdefault("latent_dim", int(meta["latent_dim"]))
                options = {k: v for k, v in options.items() if k in accepted}
        return cls(model, meta.get("latent_space"), options)

    def over(self, base: "ModelSpec") -> "ModelSpec":
        """This spec with what it leaves open taken from ``base`` (same model only: another
        model keeps only its own options)."""
        if self.model is not None and base.model is not None and self.model != base.model:
            return self
        return ModelSpec(self.model or base.model, self.latent_space or base.latent_space,
                         {**base.options, **self.options})

    def load(self, *, device="cpu", dtype=None):
        """``load_generator`` with this spec (the default model when none is named)."""
        from .registry import load_generator
        return load_generator(self.model or DEFAULT_MODEL, device=device, dtype=dtype,
                              latent_space=self.latent_space, **self.options)


def _words(key: str) -> str:
    return key.replace("_", " ")


def _value(key: str, value) -> str:
    if key == "weights":
        return describe_weights(value)
    if isinstance(value, list):
        return f"a vector of {len(value)} numbers"
    if key.endswith("sha256") and isinstance(value, str):
        return value[:12]
    return "none" if value is None else str(value)


def describe_weights(weights) -> str:
    """A weights record in plain words."""
    if weights is None:
        return "none (untrained initial weights)"
    if weights == "unknown" or not isinstance(weights, dict):
        return "not recorded"
    source = weights.get("source")
    digest = _digest(weights)
    if source == "pretrained":
        return f"pretrained{digest}"
    if source == "file":
        return f"file {weights.get('path')}{digest}"
    if source == "random":
        return f"seeded random weights (seed {weights.get('seed')}), untrained"
    if source == "saved-file":
        return "inside the model file"
    if source == "hf":
        return f"Hugging Face {weights.get('repo')}/{weights.get('path')} at {str(weights.get('revision'))[:12]}{digest}"
    return str(source)


def _same_weights(a, b) -> bool:
    if a == "unknown" or b == "unknown":
        return True  # built directly in Python: nothing recorded to compare
    if isinstance(a, dict) and isinstance(b, dict):
        keys = ("source", "sha256", "seed", "package_model")
        return all(a.get(k) == b.get(k) for k in keys)
    return a == b


def model_differences(meta: dict, G) -> list[str]:
    """Every way generator ``G`` differs from the one ``meta`` records, in plain words (empty if none)."""
    return recorded_model_differences(meta, model_meta(G))


def recorded_model_differences(meta: dict, here: dict) -> list[str]:
    """Every way the model recorded in ``here`` differs from the one ``meta`` records ("there")."""
    diffs = []
    if meta.get("latent_dim") is not None and here.get("latent_dim") is not None and \
            int(meta["latent_dim"]) != int(here["latent_dim"]):
        diffs.append(f"latent size {meta['latent_dim']} there, {here['latent_dim']} here")
    there_opts, here_opts = dict(meta.get("model_options") or {}), dict(here.get("model_options") or {})
    same_file = there_opts.get("file_sha256") is not None and there_opts.get("file_sha256") == \
        here_opts.get("file_sha256")
    if meta.get("model") is not None and meta["model"] != here.get("model") and not same_file:
        diffs.append(f"model {meta['model']} there, {here['model']} here")
    if meta.get("latent_space") is not None and meta["latent_space"] != here.get("latent_space"):
        diffs.append(f"latent space {meta['latent_space']} there, {here['latent_space']} here")
    if "model_options" in meta and "model_options" in here and not diffs:
        for key in sorted(set(there_opts) | set(here_opts)):
            a, b = there_opts.get(key), here_opts.get(key)
            same = _same_weights(a, b) if key == "weights" else (a == b or key == "file_sha256" and same_file)
            if not same:
                diffs.append(f"{_words(key)} {_value(key, a)} there, {_value(key, b)} here")
    return diffs


def check_same_model(meta: dict, G, *, what: str = "the file") -> None:
    """Refuse a generator that is not the one a file's meta records.

    Files written before model options were recorded (no ``model_options``) are checked on
    model, latent space and size only.

    Args:
        meta: the file's meta (``model``, ``latent_space``, ``latent_dim``, ``model_options``).
        G: the generator about to be used with it.
        what: the file, for the message ("the axes", "the basis face.npz", ...).

    Raises:
        InputError: one line naming every difference.
    """
    diffs = model_differences(meta, G)
    if diffs:
        raise InputError(f"{what} was made with another model setting: " + "; ".join(diffs), argument="model")


def load_recorded_generator(meta: dict, given: ModelSpec | None = None, *, device="cpu", dtype=None,
                            what: str = "the file"):
    """The generator a file's meta records, rebuilt; ``given`` may restate the model or options.

    Whatever ``given`` leaves open comes from the record, so ``explore --axes A`` draws with
    the model, class and weights the axes were computed with. Anything ``given`` sets that
    differs from the record is refused.

    The record alone rebuilds only a pretrained config by name (with its verified weights):
    files are shared between people, and opening one must never import a module or load a
    model or weights file. A recorded ``module:factory``, saved program file (TorchScript,
    exported program), config file or any other model must be named in ``given.model``, and
    a user's weights file in ``given.options["weights"]`` (checked by sha256); nothing is
    imported or read before that.

    Args:
        meta: a file's meta (its ``model``, ``latent_space`` and ``model_options``).
        given: what the user restated (a :class:`ModelSpec`), or None.
        device: where the generator runs.
        dtype: "float32" (default) or "float64".
        what: how messages name the file.

    Returns:
        The :class:`~ganmetric.Generator`, checked against the record.

    Raises:
        InputError: the record names no model and none is given; the record names a model
            that is not a pretrained config, or a user's weights file, and ``given`` does not
            name it (the message says what to pass); the given model or options differ from
            the record.
        WeightsError: the recorded weights cannot be obtained.
    """
    given = given or ModelSpec()
    refuse_unnamed(meta, given, what=what)
    G = given.over(ModelSpec.from_meta(meta)).load(device=device, dtype=dtype)
    check_same_model(meta, G, what=what)
    return G


def refuse_unnamed(meta: dict, given: ModelSpec, *, what: str = "the file") -> None:
    """Refuse to rebuild from a record anything but a pretrained config with its own weights,
    unless ``given`` names the model (and a user's weights file) itself.

    Raises:
        InputError: one line saying what the record names and what to pass to use it.
    """
    from .registry import is_pretrained_name
    recorded = meta.get("model")
    if given.model is None:
        if recorded is None:
            raise InputError(f"{what} does not record which model made it; name the model", argument="model")
        if not is_pretrained_name(recorded):
            weights = _weights_words(meta)
            raise InputError(f"{what} records the model {_braced(recorded)} ({_model_kind(recorded)}); ganmetric "
                             f"rebuilds only pretrained models from a file's record: if you trust it, name it "
                             f"yourself ({{model}} {_braced(recorded)}{weights})", argument="model",
                             mentions=("model", "weights") if weights else ("model",))
    elif given.model != recorded:
        return  # another model: loaded because the user named it, then refused by check_same_model
    weights = (meta.get("model_options") or {}).get("weights")
    named = isinstance(weights, dict) and (weights.get("source") == "file" or (  # an hf:// model file is its own
        weights.get("source") == "hf" and not str(recorded).startswith("hf://")))  # weights: named as the model
    if named and "weights" not in given.options:
        origin = "the file" if weights.get("source") == "file" else "the Hugging Face file"
        shown = _braced(_weights_arg(weights))
        raise InputError(f"{what} records weights from {origin} {shown}{_digest(weights)}; ganmetric loads a weights "
                         f"file only when you name it: give {{weights}} {shown} again (the same file, checked by "
                         f"sha256)", argument="weights", mentions=("weights",))


def _model_kind(name: str) -> str:
    """What kind of model a recorded name is, in words (any unknown kind: not a pretrained name here)."""
    from .custom import FACTORY_PATTERN
    from .registry import SAVED_SUFFIXES
    if FACTORY_PATTERN.match(name):
        return "your own code, module.path:factory"
    if name.lower().endswith(SAVED_SUFFIXES):
        return "a saved program file"
    if name.lower().endswith(".json"):
        return "a config file"
    return "not a pretrained model here: see `ganmetric models list`"


def _weights_words(meta: dict) -> str:
    weights = (meta.get("model_options") or {}).get("weights")
    if isinstance(weights, dict) and weights.get("source") in ("file", "hf"):
        return f", {{weights}} {_braced(_weights_arg(weights))}"
    return ""


def _braced(text: str) -> str:
    """``text`` as it reads in a message that is a ``str.format`` template (braces doubled)."""
    return str(text).replace("{", "{{").replace("}", "}}")


def _weights_arg(weights: dict) -> str:
    """What to pass as the weights for a recorded file: its path, or its hf:// reference at the recorded commit."""
    if weights.get("source") == "hf":
        return f"hf://{weights.get('repo')}/{weights.get('path')}@{weights.get('revision')}"
    return str(weights.get("path"))


def _digest(weights: dict) -> str:
    return f" (sha256 {weights['sha256'][:12]})" if weights.get("sha256") else ""


def describe_model(G) -> str:
    """One line for summaries: name, latent space and size, the options in effect, the weights.

    Args:
        G: a :class:`~ganmetric.Generator`.

    Returns:
        e.g. ``dcgan-face [z, n=100]; weights: pretrained (sha256 0c3b90b138cf)``.
    """
    m = model_meta(G)
    opts = {k: v for k, v in m["model_options"].items()
            if k not in ("weights", "file_sha256", "source_sha256") and v is not None}
    extra = "".join(f", {_words(k)} {_value(k, v)}" for k, v in opts.items())
    return f"{m['model']} [{m['latent_space']}, n={m['latent_dim']}{extra}]; weights: " \
           f"{describe_weights(m['model_options']['weights'])}"
