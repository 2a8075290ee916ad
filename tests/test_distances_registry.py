"""The registry of distances: a new distance is one registration; its options are checked, recorded when they change
the distance (and only then), read back from a record and compared; load_distance lists the valid names."""
from __future__ import annotations

import pytest
import torch

from ganmetric.distances import (DISTANCES, DistanceOption, DistanceSpec, MSEDistance, check_same_distance,
                                 describe_distance, distance_forms, distance_meta, load_distance,
                                 load_recorded_distance, register_distance)
from ganmetric.errors import InputError
from ganmetric.generators.dcgan import DCGANGenerator


def _positive(value) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise InputError(f"scale must be a number > 0, got {value}", argument="scale")
    return float(value)


SCALE = DistanceOption("scale", type=float, default=1.0, check=_positive, help="Factor on the mean squared error.")
CHUNK = DistanceOption("rows", type=int, changes_distance=False, help="Rows per pass (speed only).")


class ScaledMSE(MSEDistance):
    """``scale * mse``: its features are sqrt(scale) times mse's."""

    def __init__(self, scale: float, rows):
        super().__init__()
        self.name, self.scale, self.rows = "gm-scaled-mse", scale, rows

    def feature_scale(self, shape):
        return super().feature_scale(shape) * self.scale ** 0.5


@pytest.fixture
def scaled_mse():
    """``gm-scaled-mse`` registered for one test (the registry as it was afterwards)."""
    before = dict(DISTANCES)

    @register_distance("gm-scaled-mse", options=(SCALE, CHUNK), help="scaled mse (a test)")
    def build(spec, *, scale, rows):
        return ScaledMSE(scale, rows)

    yield "gm-scaled-mse"
    DISTANCES.clear()
    DISTANCES.update(before)


def test_a_registered_distance_records_exactly_the_options_that_change_it(scaled_mse):
    D = load_distance(scaled_mse, scale=2.5, rows=3, dtype="float64")
    x = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(D(x[:1], x[1:]), 2.5 * ((x[0] - x[1]) ** 2).mean()[None], rtol=1e-12, atol=0)
    assert D.rows == 3  # given to the builder, never recorded: it does not change the distance
    meta = distance_meta(D)
    assert meta == {"distance": scaled_mse, "distance_options": {"scale": 2.5}}
    assert distance_meta(load_distance(scaled_mse))["distance_options"] == {"scale": 1.0}  # the value in effect
    assert describe_distance(D) == "gm-scaled-mse (scale 2.5)"
    assert DistanceSpec.from_meta(meta) == DistanceSpec(scaled_mse, {"scale": 2.5})
    assert distance_meta(load_recorded_distance(meta, DistanceSpec(options={"rows": 7}))) == meta
    with pytest.raises(InputError, match="made with another distance: scale 2.5 there, 3.0 here"):
        load_recorded_distance(meta, DistanceSpec(options={"scale": 3.0}))
    with pytest.raises(InputError, match="^scale must be a number > 0, got -1$") as err:
        load_distance(scaled_mse, scale=-1)
    assert err.value.argument == "scale"
    with pytest.raises(InputError, match="^scale applies to gm-scaled-mse only, not mse$"):
        load_distance("mse", scale=2.0)
    assert "gm-scaled-mse" in distance_forms()


def test_a_builder_must_name_its_distance_by_its_spec(scaled_mse):
    register_distance("gm-misnamed")(lambda spec: MSEDistance())  # would record "mse" for a gm-misnamed request
    with pytest.raises(TypeError, match="must return a Distance named by its spec .* got MSEDistance 'mse'"):
        load_distance("gm-misnamed")


def test_every_builtin_distance_records_its_options():
    """What each built-in distance records is what its registration declares (plus its own constants)."""
    G = DCGANGenerator(name="tiny", nz=4, ngf=2, nc=3, resolution=16)
    specs = {"mse": "mse", "lpips-alex": "lpips-alex", "lpips-vgg": "lpips-vgg", "lpips-squeeze": "lpips-squeeze",
             "layer": "layer:main.2"}
    assert sorted(DISTANCES) == sorted(specs)
    for name, entry in DISTANCES.items():
        kw = {"lpips_backbone": "random"} if entry.option("lpips_backbone") else {}
        D = load_distance(specs[name], generator=G if name == "layer" else None, **kw)
        recorded = set(distance_meta(D)["distance_options"])
        assert {o.key for o in entry.options if o.changes_distance} <= recorded, name
        assert not {o.key for o in entry.options if not o.changes_distance} & recorded, name


def test_unknown_names_and_options_list_the_valid_ones():
    with pytest.raises(InputError) as err:
        load_distance("ssim")
    assert "'ssim'" in str(err.value) and err.value.argument == "distance"  # one line naming every valid form
    assert "{layer:NAME[,NAME2...], lpips-alex, lpips-squeeze, lpips-vgg, module.path:factory, mse}" in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match=r"^window is not an option of any distance \(the options are: "
                                         r"lpips_backbone, resize\)$"):
        load_distance("mse", window=7)
    # an option of other distances at its default value is accepted (and means nothing for mse)
    assert distance_meta(load_distance("mse", lpips_backbone="pretrained", resize=None))["distance_options"] == {}


def test_an_option_is_declared_once():
    other = DistanceOption("resize", type=int, help="another resize")
    with pytest.raises(ValueError, match="option resize of distance gm-x is declared differently by lpips-alex"):
        register_distance("gm-x", options=(other,))(lambda spec, *, resize: None)
    assert "gm-x" not in DISTANCES
    with pytest.raises(ValueError, match="without ':'"):
        register_distance("gm:x")


def test_records_written_before_the_registry_still_load_and_compare(tmp_path):
    """Records exactly as the hand-written loader wrote them (compared key by key with its output before the
    change): each is rebuilt to the same record, and differences are named as before."""
    src = load_distance("lpips-alex", lpips_backbone="random:3")
    torch.save({f"features.{k.split('.', 1)[1]}": v for k, v in src.lpips.net.state_dict().items()},
               tmp_path / "alex.pth")
    from ganmetric.io import sha256_file
    backbone = {"path": str((tmp_path / "alex.pth").resolve()), "sha256": sha256_file(tmp_path / "alex.pth")}
    records = [{"distance": "mse", "distance_options": {}},
               {"distance": "lpips-alex", "distance_options": {"backbone": "random:3", "resize": None,
                                                               "version": "0.1"}},
               {"distance": "lpips-squeeze", "distance_options": {"backbone": "random:0", "resize": 64,
                                                                  "version": "0.1"}},
               {"distance": "lpips-alex", "distance_options": {"backbone": backbone, "resize": 48, "version": "0.1"}}]
    for meta in records:
        given = DistanceSpec(options={"lpips_backbone": str(tmp_path / "alex.pth")}) \
            if isinstance(meta["distance_options"].get("backbone"), dict) else None
        assert distance_meta(load_recorded_distance(meta, given)) == meta
    assert [describe_distance(m) for m in records] == [
        "mse", "lpips-alex (random backbone, seed 3)", "lpips-squeeze (random backbone, seed 0, resized to 64 px)",
        f"lpips-alex (backbone {backbone['path']}, resized to 48 px)"]
    with pytest.raises(InputError, match=f"backbone {backbone['path']} there, random:3 here; resize 48 there, None "
                                         f"here"):
        check_same_distance(records[3], src)
