"""The packaged encoders: all-mpnet-base-v2 joined from its five part packages into the cache, the head folder and
category head each encoder scores with."""

import importlib.metadata
import shutil
import zipfile

import numpy as np
import pytest

from curation.config import EmbedConfig, ReflectionConfig
from curation.fitting.fit import fit_default
from curation.fitting.heads import FitSettings
from curation.models import packaged
from curation.models.categories import CATEGORY, CATEGORY_HEAD, CategoryHead
from curation.models.encoder import DEFAULT_HEAD, MPNET_HEAD, EmbeddingClassifier, head_folder
from curation.models.packaged import MPNET

pytestmark = pytest.mark.timeout(300)
FILES = {"modules.json": b"[]", "model.safetensors": b"weights" * 1000, "1_Pooling/config.json": b"{}",
         "desktop.ini": b"[shell]", "1_Pooling/desktop.ini": b"[shell]"}


def split_zip(folder, pieces: int = 5) -> list:
    """A zip of FILES under `all-mpnet-base-v2/`, as the part packages carry it: cut into `pieces` files."""
    whole = folder / "whole.zip"
    with zipfile.ZipFile(whole, "w") as archive:
        for name, data in FILES.items():
            archive.writestr(f"{MPNET}/{name}", data)
    data, paths = whole.read_bytes(), []
    step = len(data) // pieces + 1
    for i in range(pieces):
        path = folder / f"{MPNET}.zip.00{i + 1}"
        path.write_bytes(data[i * step:(i + 1) * step])
        paths.append(path)
    return paths


def test_the_split_encoder_is_joined_and_unpacked_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SAFECURATE_CACHE", str(tmp_path / "cache"))
    pieces = split_zip(tmp_path)
    monkeypatch.setattr(packaged, "mpnet_pieces", lambda: (pieces, "0.0.1"))
    folder = packaged.encoder_dir(MPNET)
    assert folder.parent == tmp_path / "cache"
    unpacked = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert unpacked == ["1_Pooling/config.json", "model.safetensors", "modules.json"]  # no zip, no desktop.ini
    assert (folder / "model.safetensors").read_bytes() == FILES["model.safetensors"]
    assert sorted(p.name for p in folder.parent.iterdir() if p.is_dir()) == [folder.name]  # no temp folder left

    for piece in pieces:  # a second call reads the cache, not the pieces
        piece.unlink()
    assert packaged.encoder_dir(MPNET) == folder


def test_a_broken_piece_leaves_nothing_under_the_encoders_name(tmp_path, monkeypatch):
    monkeypatch.setenv("SAFECURATE_CACHE", str(tmp_path / "cache"))
    pieces = split_zip(tmp_path)
    pieces[4].write_bytes(b"")  # the last piece (the zip's directory) lost
    monkeypatch.setattr(packaged, "mpnet_pieces", lambda: (pieces, "0.0.1"))
    with pytest.raises(zipfile.BadZipFile):
        packaged.encoder_dir(MPNET)
    assert not [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]


def test_without_its_packages_the_larger_encoder_names_the_extra_to_install(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(RuntimeError, match=r"safecurate\[mpnet\]"):
        packaged.encoder_dir(MPNET)


def test_each_encoder_scores_with_its_own_head_unless_one_is_named(tmp_path):
    assert head_folder(EmbedConfig()) == DEFAULT_HEAD
    assert head_folder(EmbedConfig(model=MPNET)) == MPNET_HEAD
    assert head_folder(EmbedConfig(model=str(tmp_path))) == DEFAULT_HEAD  # a local folder: the head option decides
    assert head_folder(EmbedConfig(model=MPNET, head=str(tmp_path))) == tmp_path
    assert packaged.encoder_dir(str(tmp_path)) == tmp_path


def test_tuned_layers_are_refused_for_another_encoder_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="packaged MiniLM only"):
        fit_default(tmp_path / "no-sources", tmp_path / "head", FitSettings(tune_layers=2), model=MPNET)
    assert not (tmp_path / "head").exists()


def test_a_head_folder_with_a_category_head_of_its_own_gives_the_reflections_their_categories(tmp_path):
    from curation.reflect.reflector import Reflector

    folder = tmp_path / "head"
    shutil.copytree(DEFAULT_HEAD, folder)
    packaged_categories = CategoryHead.load(CATEGORY_HEAD)
    renamed = [f"own_{label}" for label in packaged_categories.labels]
    CategoryHead(weight=packaged_categories.weight, bias=packaged_categories.bias,
                 info={**packaged_categories.info, "labels": renamed,
                       "tuned_layers_of": "head" if (folder / "encoder_top.safetensors").is_file() else None}
                 ).save(folder / CATEGORY)
    classifier = EmbeddingClassifier(EmbedConfig(head=str(folder)))
    assert Reflector(classifier, ReflectionConfig()).categories.labels == renamed
    shutil.rmtree(folder / CATEGORY)
    assert Reflector(classifier, ReflectionConfig()).categories.labels == packaged_categories.labels


def mpnet_installed() -> bool:
    try:
        packaged.mpnet_pieces()
    except RuntimeError:
        return False
    return True


def test_the_larger_encoder_without_its_head_says_how_to_build_it(tmp_path, monkeypatch):
    import curation.models.encoder as encoder

    monkeypatch.setattr(encoder, "MPNET_HEAD", tmp_path / "mpnet")
    with pytest.raises(FileNotFoundError, match="make head-mpnet"):
        EmbeddingClassifier(EmbedConfig(model=MPNET), encoder=object())


@pytest.mark.skipif(not mpnet_installed(), reason="the mpnet extra is not installed (pip install 'safecurate[mpnet]')")
@pytest.mark.skipif(not (MPNET_HEAD / "head.json").is_file(), reason="no curation/heads/mpnet (make head-mpnet)")
def test_the_larger_packaged_encoder_scores_harm_with_its_head_and_reflects_with_its_categories():
    from curation.reflect.reflector import Reflector

    benign = ["Whisk two eggs with milk, pour into a hot buttered pan and fold gently for a soft omelette.",
              "The museum's new wing displays Roman coins found by farmers near the river last spring."]
    harmful = ["I know where you live and tonight I'm coming to hurt your kids, you won't see it coming.",
               "All of them are subhuman filth and we should drive every last one out of this country by force."]
    classifier = EmbeddingClassifier(EmbedConfig(model=MPNET))
    assert classifier.encoder.get_embedding_dimension() == 768 and classifier.folder == MPNET_HEAD
    scores, prob, _ = classifier.score(benign + harmful)
    assert scores[:2].max() <= 1 and scores[2:].min() >= 2, scores
    assert np.min(prob[2:]) > np.max(prob[:2])
    reflector = Reflector(classifier, ReflectionConfig())
    assert reflector.categories.weight.shape[1] == 768
    assert reflector.categories.predict(classifier.embed(harmful[:1])) == ["violent_crimes"]
