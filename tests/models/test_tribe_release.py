"""Loading TRIBE v2 releases safely: config.yaml tags, best.ckpt, strict loading, the hub (monkeypatched)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import httpx
import pytest
import torch
from huggingface_hub import errors as hf_errors

from nforge_app.config import Settings
from nforge_app.errors import ModelUnavailableError, UserInputError
from nforge_app.models import _tribe_release
from nforge_app.models._tribe_net import EncoderSpec, TribeEncoder
from nforge_app.models._tribe_release import (
    extractor_config,
    load_checkpoint,
    load_config,
    release_files,
    spec_from_release,
    state_dict_diff,
    window_from_config,
)
from nforge_app.models.tribe import from_pretrained, load_encoder

from _releases import SMALL_BUILD_ARGS, load_config_text, small_config, small_spec, write_tribe_release

SPEC_DIR = Path(__file__).resolve().parents[1] / "data"


class NotATensor:
    """A class a weights-only unpickler must refuse."""


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    return write_tribe_release(tmp_path_factory.mktemp("tribe-release"))


# ---------------------------------------------------------------------------------------------------------
def test_public_loader_reads_a_release_exactly(release):
    encoder = load_encoder(release, fast=False)
    state = torch.load(release / "best.ckpt", weights_only=True)["state_dict"]
    assert set(encoder.state_dict()) == {k.removeprefix("model.") for k in state}
    for key, value in encoder.state_dict().items():
        assert torch.equal(value, state["model." + key])
    assert encoder.spec == small_spec() and encoder.spec.n_outputs == 40 and encoder.spec.depth == 2
    assert not encoder.training and encoder.precision() == "fp32"
    out = encoder({"audio": torch.randn(2, 2, 16, 200)})
    assert out.shape == (2, 40, 100)


def test_config_python_tags_become_plain_data(release):
    config = load_config(release / "config.yaml")
    transforms = config["data"]["study"]["transforms"]
    assert type(transforms) is dict and list(transforms) == ["extractaudio", "chunkvideos"]
    assert transforms["chunkvideos"]["infra"]["folder"] == "cache/features"
    assert window_from_config(config) == (100.0, 2.0)


@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system ['echo owned']", "!!python/name:builtins.print ''",
                                 "!!python/object/new:collections.OrderedDict []"])
def test_other_python_tags_are_refused(tmp_path, tag):
    path = tmp_path / "config.yaml"
    path.write_text(f"infra:\n    folder: {tag}\n")
    with pytest.raises(UserInputError, match=r"python/(object/apply:os\.system|name:builtins\.print|object/new)"):
        load_config(path)


def test_shared_sample_config_describes_the_default_architecture():
    sample = SPEC_DIR / "tribev2_config.yaml"
    if not sample.is_file():
        pytest.skip(f"{sample} is not here")
    config = load_config(sample)
    build_args = {"feature_dims": {"text": (2, 3072), "audio": (2, 1024), "video": (2, 1408)}, "n_outputs": 20484,
                  "n_output_timesteps": 100}
    assert spec_from_release(config, build_args) == EncoderSpec()


def test_unsupported_architecture_option_is_named(tmp_path):
    config = load_config_text(small_config(device="cpu", use_rmsnorm="true"))
    with pytest.raises(UserInputError, match=r"encoder\.use_rmsnorm = True.*only False"):
        spec_from_release(config, SMALL_BUILD_ARGS)


def test_pickled_objects_in_the_checkpoint_are_refused(tmp_path):
    folder = write_tribe_release(tmp_path / "evil", extra={"hook": NotATensor()})
    with pytest.raises(ModelUnavailableError, match=r"pickled Python objects.*weights_only=True.*nforge-lite"):
        load_encoder(folder)


def test_legacy_checkpoint_format_loads_without_mmap(tmp_path, release):
    folder = write_tribe_release(tmp_path / "legacy", _use_new_zipfile_serialization=False)
    state_dict, build_args = load_checkpoint(folder / "best.ckpt")
    assert build_args == SMALL_BUILD_ARGS and "predictor.weights" in state_dict


def test_damaged_checkpoint_is_reported(tmp_path, release):
    folder = tmp_path / "damaged"
    shutil.copytree(release, folder)
    data = (folder / "best.ckpt").read_bytes()
    (folder / "best.ckpt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelUnavailableError, match=r"damaged or incomplete.*Delete it.*nforge-lite"):
        load_encoder(folder)


def test_strict_load_lists_missing_unexpected_and_misshaped_keys(tmp_path):
    state = TribeEncoder(small_spec()).state_dict()
    state.pop("encoder.final_norm.g")
    state["encoder.extra.weight"] = torch.zeros(3)
    state["predictor.bias"] = torch.zeros(1, 41)
    folder = write_tribe_release(tmp_path / "mismatch", state_dict=state)
    with pytest.raises(ModelUnavailableError) as raised:
        load_encoder(folder)
    message = str(raised.value)
    assert "missing keys (1): encoder.final_norm.g" in message
    assert "unexpected keys (1): encoder.extra.weight" in message
    assert "shape mismatches (1): predictor.bias (checkpoint (1, 41), model (1, 40))" in message


def test_diff_is_truncated():
    expected = {f"layer.{i}": (2,) for i in range(30)}
    diff = state_dict_diff(expected, {}, limit=5)
    assert diff.startswith("missing keys (30): layer.0, layer.1") and "and 25 more" in diff
    assert state_dict_diff(expected, {k: torch.zeros(2) for k in expected}) == ""


def test_missing_file_in_a_release_folder(tmp_path):
    (tmp_path / "config.yaml").write_text("a: 1\n")
    with pytest.raises(ModelUnavailableError, match="best.ckpt missing"):
        load_encoder(tmp_path)


def test_cuda_pinned_config_runs_extractors_on_the_chosen_device(release, caplog):
    config = load_config(release / "config.yaml")
    with caplog.at_level(logging.INFO, logger=_tribe_release.__name__):
        fixed = extractor_config(config, "cpu")
    data = fixed["data"]
    assert data["text_feature"]["device"] == data["audio_feature"]["device"] == "cpu"
    assert data["video_feature"]["image"]["device"] == "cpu"
    assert config["data"]["text_feature"]["device"] == "cuda"  # the original is left alone
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 3 and all("'cuda'" in m and "'cpu'" in m for m in logged)


# ---------------------------------------------------------------------------------------------------------
# The hub, with hf_hub_download replaced (tests never touch the network).
def _response(status: int) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("GET", "https://huggingface.co/facebook/tribev2"))


HUB_ERRORS = {
    "gated": (hf_errors.GatedRepoError("403 gated", response=_response(403)),
              r"gated.*hf auth login.*meta-llama/Llama-3\.2-3B.*nforge-lite"),
    "missing repo": (hf_errors.RepositoryNotFoundError("404", response=_response(404)),
                     r"does not exist.*nforge-lite"),
    "offline": (hf_errors.LocalEntryNotFoundError("not cached, offline"),
                r"(no network|HF_HUB_OFFLINE).*not cached.*NFORGE_WEIGHTS_DIR.*nforge-lite"),
    "connection": (ConnectionError("connection refused"), r"downloading facebook/tribev2 failed.*nforge-lite"),
    "size": (OSError("Consistency check failed: file should be of size 10 but has size 5"),
             r"damaged.*fresh copy.*nforge-lite"),
}


@pytest.mark.parametrize("case", sorted(HUB_ERRORS))
def test_hub_failures_are_explained(monkeypatch, tmp_path, case):
    error, pattern = HUB_ERRORS[case]

    def download(*args, **kwargs):
        raise error

    monkeypatch.setattr("huggingface_hub.hf_hub_download", download)
    with pytest.raises(ModelUnavailableError, match=pattern):
        from_pretrained("facebook/tribev2", cache_dir=tmp_path)


def test_hub_download_goes_to_the_cache_with_the_token(monkeypatch, tmp_path, release):
    calls = []

    def download(repo_id, filename, *, cache_dir, token, local_files_only=False):
        calls.append((repo_id, filename, cache_dir, token))
        assert local_files_only  # the session is offline (HF_HUB_OFFLINE=1): only the cache is read
        return str(release / filename)

    monkeypatch.setattr("huggingface_hub.hf_hub_download", download)
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    monkeypatch.setenv("NFORGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("NFORGE_WEIGHTS_DIR", raising=False)
    encoder = from_pretrained()
    assert encoder.spec.n_outputs == 40
    hub = str(tmp_path / "cache" / "hub")
    assert calls == [("facebook/tribev2", "config.yaml", hub, "hf_secret"),
                     ("facebook/tribev2", "best.ckpt", hub, "hf_secret")]


def test_damaged_download_is_reported(monkeypatch, tmp_path, release):
    snapshot = tmp_path / "snapshot"
    shutil.copytree(release, snapshot)
    (snapshot / "best.ckpt").write_bytes(b"PK\x03\x04 not really a zip")
    monkeypatch.setattr("huggingface_hub.hf_hub_download",
                        lambda repo_id, filename, **kwargs: str(snapshot / filename))
    with pytest.raises(ModelUnavailableError, match="damaged or incomplete"):
        from_pretrained("someone/tribe-copy", cache_dir=tmp_path)


def test_weights_dir_release_is_used_before_the_hub(monkeypatch, tmp_path, release):
    shutil.copytree(release, tmp_path / "weights" / "tribe-v2")

    def download(*args, **kwargs):
        raise AssertionError("the hub must not be asked")

    monkeypatch.setattr("huggingface_hub.hf_hub_download", download)
    settings = Settings(cache_dir=tmp_path / "cache", weights_dir=tmp_path / "weights")
    config_path, checkpoint_path = release_files(settings=settings)
    assert checkpoint_path == tmp_path / "weights" / "tribe-v2" / "best.ckpt"
    assert config_path.name == "config.yaml"


def test_a_path_that_is_not_there_is_not_sent_to_the_hub(tmp_path):
    with pytest.raises(ModelUnavailableError, match="neither a release folder"):
        release_files(str(tmp_path / "nowhere" / "tribe"))
    with pytest.raises(ModelUnavailableError, match="neither a release folder"):
        release_files("C:\\models\\tribev2")
