"""Methods declare their facts and register through one mechanism: built in, by entry point, or
as ``package.module:Class``."""

import importlib.metadata
import json

import pytest
import torch

from baselines.cnn import CNNBaseline
from irsde.methods import RELEASED_WEIGHTS, METHODS, Method, _installed_methods, check_method_class, method_class, row_facts
from irsde.methods.ir_sde import DataPrediction, IRSDEMethod
from irsde.cli import main
from irsde.registry import UnknownName
from irsde.train import train
from tests.support.train import tiny_config

USER_MODULE = '''
import torch
from irsde.methods import Method


class Denoiser(Method):
    """An unconditional network: eps_hat = net(x_t), no degraded image as input."""

    id = "{id}"
    label = "Denoiser (a user's)"
    paper_row = None
    stochastic = False

    def __init__(self, width):
        self.width = width

    @classmethod
    def from_config(cls, config):
        return cls(config["network"]["nf"])

    def build_net(self):
        return torch.nn.Conv2d(3, 3, 3, padding=1)

    def loss(self, net, gt, lq, generator, shard):
        return (lq - net(lq) - gt).abs().mean()

    def restore(self, net, lq, generator):
        return lq - net(lq)
'''


def write_package(root, package, method_id="denoiser", entry_name=None):
    """An importable package ``package`` defining ``Denoiser``; with ``entry_name``, also an
    installed distribution registering it under the ``irsde.methods`` entry points."""
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text(USER_MODULE.format(id=method_id))
    if entry_name:
        info = root / f"{package}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[irsde.methods]\n{entry_name} = {package}:Denoiser\n")
    return root


def test_the_built_in_and_the_baseline_declare_their_facts():
    facts = row_facts()
    assert facts["irsde"].label == "IR-SDE (ours)" and facts["irsde"].paper_row == "IR-SDE" and facts["irsde"].stochastic
    assert facts["cnn_baseline"].label == "CNN-baseline (our reconstruction)"
    assert facts["cnn_baseline"].paper_row == "CNN-baseline" and not facts["cnn_baseline"].stochastic
    assert facts["irsde-derain-rain100h"].paper_row == "IR-SDE" and facts["irsde-derain-rain100h"].stochastic
    assert facts["prenet-rain100h"].paper_row == "PReNet" and not facts["prenet-rain100h"].stochastic
    assert facts["prenet-rain100h"].source == RELEASED_WEIGHTS == "released weights, this run"
    assert facts["input"].paper_row is None and not facts["input"].stochastic
    assert list(facts) == ["input", "irsde", "denoising_sde", "denoising_ode", "prenet", "dncnn", "ffdnet", "cnn_baseline",
                           "prenet-rain100h", "prenet-rain100l", "dncnn-color-blind", "ffdnet-color", "irsde-derain-rain100h"]
    with pytest.raises(UnknownName, match="unknown table row 'ours'"):
        facts["ours"]


def test_the_baseline_registers_through_the_entry_point_like_any_package():
    entries = {entry.name: entry.value for entry in importlib.metadata.entry_points(group="irsde.methods")}
    assert entries["cnn_baseline"] == "baselines.cnn:CNNBaseline"
    assert METHODS["cnn_baseline"] is CNNBaseline and METHODS["irsde"] is IRSDEMethod


def test_an_unknown_method_lists_the_choices_and_how_to_add_one():
    with pytest.raises(UnknownName) as caught:
        METHODS["unet"]
    message = str(caught.value)
    assert "unknown method 'unet' (did you mean 'prenet'?); choose one of: cnn_baseline, denoising_sde, dncnn, ffdnet, irsde, prenet" in message
    assert "'irsde.methods' entry points" in message and "package.module:Class" in message


def test_an_installed_package_registers_its_method_by_entry_point(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(write_package(tmp_path, "user_methods_ep", entry_name="denoiser")))
    found = _installed_methods()
    assert found["denoiser"].__module__ == "user_methods_ep" and found["cnn_baseline"] is CNNBaseline


def test_an_entry_point_must_be_named_after_the_method_id(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(write_package(tmp_path, "user_methods_bad", entry_name="denoising")))
    with pytest.raises(ValueError, match="entry point denoising = 'user_methods_bad:Denoiser'.*declares id 'denoiser'"):
        _installed_methods()


def test_a_class_named_module_colon_class_needs_no_registration(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(write_package(tmp_path, "user_methods_path")))
    method = method_class("user_methods_path:Denoiser")
    assert issubclass(method, Method) and method.facts().label == "Denoiser (a user's)"
    built = method.from_config({"network": {"nf": 4}})
    assert built.build_net().in_channels == 3 and built.settings() == {}
    with pytest.raises(ValueError, match="cannot import Nothing from user_methods_path"):
        method_class("user_methods_path:Nothing")
    with pytest.raises(ValueError, match="cannot import Denoiser from no_such_module"):
        method_class("no_such_module:Denoiser")


def test_incomplete_method_classes_are_named():
    class NoFacts(IRSDEMethod):
        id = "Bad Id"

    class Abstract(Method):
        id, label, stochastic = "abstract", "Abstract", False

    class NoLabel(CNNBaseline):
        label = None

    with pytest.raises(ValueError, match="here: .*is not a subclass of irsde.methods.Method"):
        check_method_class(object, "here")
    with pytest.raises(ValueError, match="here: method class Abstract does not implement build_net, from_config, loss, restore"):
        check_method_class(Abstract, "here")
    with pytest.raises(ValueError, match=r"method id 'Bad Id' must match \^\[a-z\]"):
        check_method_class(NoFacts, "here")
    with pytest.raises(ValueError, match=r"NoLabel must declare label \(str\)"):
        check_method_class(NoLabel, "here")


def test_only_a_sampling_method_takes_another_sampler():
    cnn = CNNBaseline({"nf": 8, "depth": 2})
    with pytest.raises(ValueError, match="method 'cnn_baseline' restores without a sampler"):
        cnn.with_sampler("ode")
    config = {"network": {"nf": 8, "depth": 2}, "sde": {"schedule": "cosine", "T": 5, "max_sigma": 10, "eps": 0.005},
              "loss": {"name": "maximum_likelihood", "kind": "l1", "timestep_weights": "uniform"},
              "train": {"val_sampler": "sde", "val_steps": None}, "options": {"prediction": "noise"}}
    irsde = IRSDEMethod.from_config(config)
    ode = irsde.with_sampler("ode")
    assert ode.settings()["sampler"] == "ode" and irsde.settings()["sampler"] == "sde"
    assert ode.settings()["sde"] == {"schedule": "cosine", "T": 5, "max_sigma": 10, "eps": 0.005}
    fast = irsde.with_sampler("fast-sde", 2)
    assert (fast.settings()["sampler"], fast.settings()["steps"], fast.settings()["nfe"]) == ("fast-sde", 2, 2)
    assert irsde.settings()["nfe"] == 5 and ode.with_sampler(steps=3).settings()["sampler"] == "ode"
    with pytest.raises(ValueError, match="must be an integer in 1..T=5, got 6"):
        irsde.with_sampler(steps=6)
    variant = IRSDEMethod.sampler_variant("fast-sde", 10)
    assert (variant.id, variant.label, variant.paper_row) == ("irsde-fast-sde-10", "IR-SDE (fast-sde, 10 NFE)", "IR-SDE")
    assert set(row_facts([("irsde", "fast-sde", 10)])) - set(row_facts()) == {"irsde-fast-sde-10"}


def test_a_user_method_with_an_unconditional_network_trains_and_restores_on_the_same_paths(tmp_path, monkeypatch):
    """Named as package.module:Class in the run config: the shared engine trains it, `irsde restore
    --run` rebuilds and restores it, and its results carry its own id."""
    monkeypatch.syspath_prepend(str(write_package(tmp_path / "code", "user_methods_run")))
    config = tiny_config(tmp_path, method="user_methods_run:Denoiser", train={"iterations": 3, "val_every": 3})
    result = train(config, progress=False)
    assert (result.output_dir / "val_log.csv").read_text().count("psnr") == 3  # 2 images + the mean
    out = tmp_path / "restored"
    assert main(["restore", "--run", str(result.output_dir), "--dataset", config["data"]["val"], "--out", str(out)]) == 0
    manifest = json.loads((out / "restore.json").read_text())
    assert manifest["method"] == "denoiser" and len(manifest["images"]) == 3 and "sampler" not in manifest


class CleanImageOracle(torch.nn.Module):
    """A data-predicting network that knows the clean image: its output is x0 - mu."""

    def __init__(self, x0):
        super().__init__()
        self.x0 = x0

    def forward(self, xt, mu, t):
        return self.x0 - mu


def data_predicting_method(prediction="data"):
    config = {"network": {"nf": 8, "depth": 2},
              "sde": {"schedule": "cosine", "T": 20, "max_sigma": 10, "eps": 0.005},
              "loss": {"name": "maximum_likelihood", "kind": "l1", "timestep_weights": "uniform"},
              "train": {"val_sampler": "posterior", "val_steps": None}, "options": {"prediction": prediction}}
    return IRSDEMethod.from_config(config)


def test_a_data_predicting_network_is_read_as_the_noise_it_implies():
    method = data_predicting_method()
    generator = torch.Generator().manual_seed(0)
    x0, mu = torch.rand(2, 3, 8, 8, generator=generator), torch.rand(2, 3, 8, 8, generator=generator)
    noise, t = torch.randn(2, 3, 8, 8, generator=generator), torch.tensor([1, 20])
    xt = method.sde.sample_xt(x0, mu, t, noise)
    torch.testing.assert_close(method.noise_predictor(CleanImageOracle(x0))(xt, mu, t), noise, atol=1e-3, rtol=0)
    # the oracle's loss is zero and its restoration is the clean image, through the same paths
    assert method.restore(CleanImageOracle(x0), mu, generator).sub(x0).abs().max() < 1e-4
    net = method.build_net()
    assert isinstance(method.noise_predictor(net), DataPrediction) and not isinstance(net, DataPrediction)
    assert method.network == {"nf": 8, "depth": 2} and method.settings()["prediction"] == "data"
    assert method.with_sampler("ode").prediction == "data"
    noise_method = data_predicting_method(prediction="noise")
    assert noise_method.noise_predictor(net) is net


def test_the_prediction_is_a_method_option_validated_by_the_method():
    assert IRSDEMethod.resolve_options({}, "x") == {"prediction": "noise"}
    assert CNNBaseline.options_schema == {}
    with pytest.raises(ValueError, match=r"config key 'method_options.cnn_baseline': method 'cnn_baseline'"):
        CNNBaseline.resolve_options({"prediction": "data"}, "config key 'method_options.cnn_baseline'")


def test_an_unknown_prediction_names_the_key():
    with pytest.raises(ValueError, match=r"config key 'prediction': 'velocity' is not valid.*choose one of: noise, data"):
        data_predicting_method(prediction="velocity")
