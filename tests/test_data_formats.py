"""data/formats: image folders, .npz and Hugging Face datasets read into LabelledImages; every refusal's message."""

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from latentcraft.data.formats.detect import detect_format, read_dataset
from latentcraft.data.formats.folders import read_image_folder
from latentcraft.data.formats.labelled_images import DatasetError, LabelledImages
from latentcraft.data.formats.npz import read_npz
from latentcraft.data.formats.report import describe, problems
from latentcraft.data.formats.split import held_out_count, stratified_split
from latentcraft.errors import LatentcraftError

H, W = 10, 12  # rectangular on purpose


def grey(value: int = 0, size: tuple[int, int] = (H, W)) -> np.ndarray:
    return np.full(size, value, np.uint8)


def save(path: Path, pixels: np.ndarray | Image.Image, **options) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)).save(path, **options)
    return path


def tree(root: Path, counts: dict[str, int], start: int = 0) -> Path:
    """A folder of class folders; image i of a class has every pixel = start + i."""
    for name, n in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            save(root / name / f"{i:03d}.png", grey(start + i))
    return root


def files(root: Path) -> list[tuple[str, int]]:
    return sorted((str(p), p.stat().st_mtime_ns) for p in root.rglob("*"))


def refused(match: str, call, *args, **kwargs) -> str:
    with pytest.raises(DatasetError, match=match) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and isinstance(info.value, LatentcraftError) and isinstance(info.value, ValueError)
    return message


# ---- image folders -------------------------------------------------------------------------


def test_split_tree_reads_classes_in_sorted_order(tmp_path):
    tree(tmp_path / "train", {"dog": 3, "cat": 2, "emu": 1})
    tree(tmp_path / "test", {"dog": 1, "cat": 2}, start=50)
    before = files(tmp_path)
    data = read_dataset(tmp_path)
    assert files(tmp_path) == before  # readers write nothing
    assert data.class_names == ["cat", "dog", "emu"]  # sorted, as torchvision's ImageFolder
    assert (data.height, data.width, data.channels, data.classes) == (H, W, 1, 3)
    assert data.x_train.shape == (6, H, W, 1) and data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int64
    assert data.y_train.tolist() == [0, 0, 1, 1, 1, 2] and data.y_test.tolist() == [0, 0, 1]
    assert data.x_train[:, 0, 0, 0].tolist() == [0, 1, 0, 1, 2, 0] and data.x_test[:, 0, 0, 0].tolist() == [50, 51, 50]
    assert data.counts() == {"train": [2, 3, 1], "test": [2, 1, 0]}
    assert detect_format(tmp_path) == "split-folders" and "train/ and test/" in data.format
    assert data.split_note == "given: the test/ folder" and any("emu" in n for n in data.notes)


def test_class_folders_hold_out_a_seeded_stratified_split(tmp_path):
    tree(tmp_path, {"a": 20, "b": 9, "c": 2, "d": 1})
    data = read_dataset(tmp_path, test_fraction=0.25, seed=3)
    expected = [held_out_count(n, 0.25) for n in (20, 9, 2, 1)]
    assert expected == [5, 2, 1, 0]  # round half up, at least 1 where n >= 2, a lone image stays in train
    assert data.counts() == {"train": [15, 7, 1, 1], "test": expected}
    assert "25% per class" in data.split_note and "seed 3" in data.split_note and "single image" in data.split_note
    again = read_dataset(tmp_path, test_fraction=0.25, seed=3)
    assert np.array_equal(again.x_test, data.x_test) and np.array_equal(again.y_test, data.y_test)
    other = read_dataset(tmp_path, test_fraction=0.25, seed=4)
    assert not np.array_equal(other.x_test[:, 0, 0, 0], data.x_test[:, 0, 0, 0])
    for k, n in enumerate((20, 9, 2, 1)):  # each image exactly once, in one split
        values = np.concatenate([data.x_train[data.y_train == k], data.x_test[data.y_test == k]])[:, 0, 0, 0]
        assert sorted(values.tolist()) == list(range(n))
    assert read_dataset(tmp_path).counts()["test"] == [2, 1, 1, 0]  # default 10%, seed 0
    assert detect_format(tmp_path) == "class-folders"


def test_stratified_split_is_exact_per_class():
    labels = np.repeat(np.arange(3), [10, 4, 7])
    train, test, _ = stratified_split(labels, 0.3, seed=0)
    assert np.bincount(labels[test]).tolist() == [3, 1, 2]
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(21))
    assert np.array_equal(stratified_split(labels, 0.3, seed=0)[1], test)


def test_conversions_are_made_and_noted(tmp_path):
    save(tmp_path / "a" / "16bit.png", Image.fromarray(np.full((H, W), 257 * 100, np.uint16)))
    assert Image.open(tmp_path / "a" / "16bit.png").mode.startswith("I")
    palette = Image.fromarray(grey(1)).convert("P")
    palette.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    save(tmp_path / "a" / "palette.png", palette)
    save(tmp_path / "b" / "opaque.png", np.dstack([grey(7)] * 3 + [grey(255)]))
    save(tmp_path / "b" / "photo.jpg", grey(90), quality=95)
    save(tmp_path / "b" / "bilevel.png", Image.fromarray(grey(255)).convert("1"))
    data = read_image_folder(tmp_path, test_fraction=0.5)
    assert data.channels == 3  # the palette image is colour, so the grey ones become RGB
    pixels = {tuple(x[0, 0]) for x in np.concatenate([data.x_train, data.x_test])}
    assert {(100, 100, 100), (200, 10, 10), (7, 7, 7), (255, 255, 255)} <= pixels
    notes = " | ".join(data.notes)
    for said in ("16-bit grey scaled", "palette image converted to RGB", "opaque alpha channel dropped",
                 "1-bit image", "grey image converted to RGB"):
        assert said in notes


def test_grey_stays_grey_and_equal_rgb_is_grey(tmp_path):
    save(tmp_path / "a" / "rgb.png", np.dstack([grey(40)] * 3))
    save(tmp_path / "b" / "grey.png", grey(80))
    save(tmp_path / "b" / "greypalette.png", Image.fromarray(grey(9)).convert("P"))
    data = read_image_folder(tmp_path, test_fraction=0.5)
    assert data.channels == 1 and "kept as grey" in " ".join(data.notes)
    assert sorted(np.concatenate([data.x_train, data.x_test])[:, 0, 0, 0].tolist()) == [9, 40, 80]


def test_clutter_is_skipped_and_loose_files_noted(tmp_path):
    tree(tmp_path, {"a": 2, "b": 2})
    (tmp_path / "README.md").write_text("about")
    (tmp_path / "a" / ".DS_Store").write_bytes(b"\0junk")
    (tmp_path / "b" / "Thumbs.db").write_bytes(b"junk")
    save(tmp_path / "b" / "nested" / "deep.png", grey(9))  # found recursively, as ImageFolder does
    data = read_dataset(tmp_path, test_fraction=0.5)
    assert data.counts() == {"train": [1, 1], "test": [1, 2]}  # 3 × 0.5 rounds half up to 2
    assert any("README.md" in n for n in data.notes)


def test_two_and_a_hundred_classes_are_allowed(tmp_path):
    names = {f"c{k:03d}": 1 for k in range(100)}
    tree(tmp_path / "train", names)
    tree(tmp_path / "test", names)
    assert read_dataset(tmp_path).classes == 100
    assert read_dataset(tree(tmp_path / "two", {"x": 2, "y": 2})).classes == 2


def _big(root):
    tree(root, {"a": 2, "b": 1})
    save(root / "b" / "big.png", grey(0, (65, 20)))


def _small(root):
    tree(root, {"a": 2, "b": 1})
    save(root / "b" / "small.png", grey(0, (20, 7)))


def _mixed(root):
    tree(root, {"a": 2, "b": 2})
    save(root / "b" / "odd.png", grey(0, (H + 1, W)))


def _transparent(root):
    tree(root, {"a": 2, "b": 1})
    save(root / "b" / "alpha.png", np.dstack([grey(7)] * 3 + [grey(0)]))


def _gif(root):
    tree(root, {"a": 2, "b": 1})
    save(root / "b" / "anim.gif", grey(3))


def _corrupt(root):
    tree(root, {"a": 2, "b": 1})
    (root / "b" / "broken.png").write_bytes((root / "b" / "000.png").read_bytes()[:40])


def _text(root):
    tree(root, {"a": 2, "b": 1})
    (root / "b" / "labels.csv").write_text("x,y\n")


def _empty_class(root):
    tree(root, {"a": 2, "b": 2})
    (root / "c").mkdir()


def _stranger(root):
    tree(root / "train", {"a": 2, "b": 2})
    tree(root / "test", {"a": 1, "zebra": 1})


FOLDER_REFUSALS = [
    (_big, r"big\.png: is 20×65 px \(width×height\), larger than the limit of 64 px a side; downscale"),
    (_small, r"small\.png: is 7×20 px .* smaller than the minimum of 8 px a side"),
    (_mixed, r"images differ in size: .*odd\.png is 12×11 but .*000\.png is 12×10 px"),
    (_transparent, r"alpha\.png: has transparent pixels; flatten it onto the background"),
    (_gif, r"anim\.gif: is a GIF image; only PNG and JPEG are read"),
    (_corrupt, r"broken\.png: cannot be read as an image \(.*\); replace it with a good copy or remove it"),
    (_text, r"labels\.csv: cannot be read as an image \(not a file PIL recognises"),
    (_empty_class, r"[/\\]c: class folder holds no images; add images or remove the folder"),
    (_stranger, r"zebra: class 'zebra' is in test/ but not in train/; add .*train.zebra or remove"),
    (lambda root: tree(root, {"only": 3}), r"holds one class folder \(only\); latentcraft needs 2 to 100 classes"),
    (lambda root: tree(root, {f"c{k}": 0 for k in range(101)}), r"holds 101 class folders, more than the 100"),
    (lambda root: tree(root / "train", {"a": 2, "b": 2}), r"has train/ but no test/; add test/"),
    (lambda root: (tree(root / "train", {"a": 1, "b": 1}), (root / "test").mkdir()), r"test: holds no class folders"),
    (lambda root: root.mkdir(), r"holds no class folders; put each class's images in a subfolder"),
]


@pytest.mark.parametrize(("build", "match"), FOLDER_REFUSALS, ids=[m[:30] for _, m in FOLDER_REFUSALS])
def test_folder_refusals(tmp_path, build, match):
    build(tmp_path / "data")
    refused(match, read_dataset, tmp_path / "data")
    assert any(re.search(match, line) for line in problems(tmp_path / "data"))


def test_every_bad_file_is_listed_and_counted(tmp_path):
    tree(tmp_path, {"a": 3, "b": 3})
    for name in ("x.png", "y.png", "z.png"):
        (tmp_path / "b" / name).write_bytes(b"not an image")
    assert len(problems(tmp_path)) == 3
    refused(r"b.x\.png: cannot be read .* \(and 2 more problems\)$", read_dataset, tmp_path)
    assert problems(tree(tmp_path / "good", {"a": 2, "b": 2})) == []


# ---- .npz ----------------------------------------------------------------------------------


def npz(path: Path, **arrays) -> Path:
    rng = np.random.default_rng(0)
    base = {"x_train": rng.integers(0, 256, (6, H, W), dtype=np.uint8), "y_train": np.array([0, 1, 2, 0, 1, 2]),
            "x_test": rng.integers(0, 256, (3, H, W), dtype=np.uint8), "y_test": np.array([2, 1, 0])}
    base.update(arrays)
    np.savez(path, **{k: v for k, v in base.items() if v is not None})
    return path


def test_npz_with_names_and_factors(tmp_path):
    x = np.random.default_rng(1).integers(0, 256, (6, H, W, 3), dtype=np.uint8)
    path = npz(tmp_path / "d.npz", x_train=x, x_test=x[:3], class_names=np.array(["cat", "dog", "emu"]),
               factors_train=np.arange(12.0).reshape(6, 2), factors_test=np.zeros((3, 2), np.int32),
               factor_names=np.array(["size", "angle"]))
    data = read_dataset(path)
    assert detect_format(path) == "npz" and data.format == "NumPy .npz archive"
    assert np.array_equal(data.x_train, x) and data.channels == 3 and data.class_names == ["cat", "dog", "emu"]
    assert data.counts() == {"train": [2, 2, 2], "test": [1, 1, 1]} and data.split_note == "given: x_test and y_test"
    assert data.factors_train.dtype == np.float64 and data.factors_test.dtype == np.int64
    assert data.factor_names == ["size", "angle"]
    text = describe(data)
    for said in ("cat", "emu", "size: 0 to 10", "given: x_test", "RGB", "10 × 12"):
        assert said in text


def test_npz_defaults_conversions_and_held_out_split(tmp_path):
    x = np.linspace(0, 1, 20 * H * W).reshape(20, H, W)
    labels = np.repeat([0, 1], 10).astype(np.float32)
    path = npz(tmp_path / "d.npz", x_train=x, y_train=labels[:, None], x_test=None, y_test=None,
               factors_train=np.arange(20), class_names=np.array([b"zero", b"one"]))
    data = read_npz(path, test_fraction=0.2, seed=5)
    assert data.x_train.dtype == np.uint8 and data.x_train.max() <= 255 and data.channels == 1
    assert data.counts() == {"train": [8, 8], "test": [2, 2]} and "seed 5" in data.split_note
    assert data.class_names == ["zero", "one"]
    # factors follow their images through the split: factor = row index in x
    for xs, fs in ((data.x_train, data.factors_train), (data.x_test, data.factors_test)):
        assert np.array_equal(xs, np.floor(x[fs[:, 0]][..., None] * 255 + 0.5).astype(np.uint8))
    notes = " | ".join(data.notes)
    assert "scaled to 0..255" in notes and "flattened" in notes and "whole values" in notes
    plain = read_npz(npz(tmp_path / "e.npz", x_train=np.full((6, H, W), 3, np.int64)))
    assert plain.class_names == ["0", "1", "2"] and "classes named 0..2" in " ".join(plain.notes)


NPZ_REFUSALS = [
    ({"x_train": np.full((6, H, W), 1.5)}, r"x_train: holds floats from 1\.5 to 1\.5, outside \[0, 1\]"),
    ({"x_train": np.full((6, H, W), np.nan)}, r"x_train: holds NaN or infinite values"),
    ({"x_train": np.full((6, H, W), 300)}, r"x_train: holds int64 values from 300 to 300, outside 0\.\.255"),
    ({"x_train": np.zeros((6, H * W), np.uint8)}, r"x_train: has shape \(6, 120\); images must be N×H×W"),
    ({"x_train": np.zeros((6, H, W, 4), np.uint8)}, r"x_train: has 4 channels \(RGBA\?\)"),
    ({"x_train": np.zeros((6, 3, H, W), np.uint8)}, r"channel-first; give N×H×W×C \(np\.moveaxis\(x_train, 1, -1\)\)"),
    ({"x_train": np.zeros((6, 80, W), np.uint8)}, r"x_train: is 12×80 px .* larger than the limit of 64 px"),
    ({"x_train": np.zeros((6, H, 4), np.uint8)}, r"x_train: is 4×10 px .* smaller than the minimum of 8 px"),
    ({"x_train": np.zeros((6, H, W), bool)}, r"x_train: has dtype bool"),
    ({"y_train": np.arange(5)}, r"y_train: has 5 labels for 6 images; give one label per image"),
    ({"y_train": np.array([0, 1, 2, 0, 1, 2.5])}, r"y_train: holds non-integer label 2\.5"),
    ({"y_train": np.array([0, 1, 2, 0, 1, np.nan])}, r"y_train: holds NaN; every image needs a label"),
    ({"y_test": np.array([2, -1, 0])}, r"y_test: holds negative label -1"),
    ({"y_train": np.array(list("abcabc"))}, r"y_train: has dtype <U1; labels must be integers"),
    ({"y_train": np.zeros((6, 2), np.int64)}, r"y_train: has shape \(6, 2\); labels must be one integer per image"),
    ({"class_names": np.array(["a", "b"])}, r"y_train holds label 2, outside 0\.\.1"),
    ({"class_names": np.array(["a", "b", "a"])}, r"class name 'a' appears twice"),
    ({"class_names": np.array([1, 2, 3])}, r"class_names: has dtype int64 .* give a 1-D array of strings"),
    ({"y_train": np.zeros(6, np.int64), "y_test": np.zeros(3, np.int64)}, r"has 1 class; latentcraft needs 2 to 100"),
    ({"y_train": np.arange(6) % 2, "y_test": np.array([0, 1, 2])}, r"class '2' has no training images"),
    ({"y_train": np.array([0, 1, 2, 3, 4, 100])}, r"has 101 classes; latentcraft needs 2 to 100"),
    ({"x_test": np.zeros((3, W, H), np.uint8)}, r"x_test images are \(12, 10, 1\) but x_train images are \(10, 12"),
    ({"x_test": np.zeros((0, H, W), np.uint8), "y_test": np.zeros(0, np.int64)}, r"the test split is empty"),
    ({"x_tests": np.zeros(3)}, r"holds array x_tests, which latentcraft does not read; rename or remove it"),
    ({"y_test": None}, r"has x_test but no y_test; give both or neither"),
    ({"x_train": None}, r"has no x_train array"),
    ({"factors_train": np.zeros((6, 2))}, r"has factors_train but no factors_test"),
    ({"factors_train": np.zeros((5, 2)), "factors_test": np.zeros((3, 2))}, r"factors_train: has 5 rows for 6 images"),
    ({"factors_train": np.full((6, 1), np.nan), "factors_test": np.zeros((3, 1))}, r"factors_train: holds NaN"),
    ({"factors_train": np.zeros((6, 2)), "factors_test": np.zeros((3, 2)), "factor_names": np.array(["a"])},
     r"factor_names must be 2 non-empty strings"),
]


@pytest.mark.parametrize(("arrays", "match"), NPZ_REFUSALS, ids=[m[:30] for _, m in NPZ_REFUSALS])
def test_npz_refusals(tmp_path, arrays, match):
    path = npz(tmp_path / "d.npz", **arrays)
    message = refused(match, read_dataset, path)
    assert message.startswith(str(path)) and problems(path) == [message]


def test_npz_never_unpickles(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, **{**dict(np.load(npz(tmp_path / "base.npz"))), "class_names": np.array(["a", 1, None], object)})
    refused(r"class_names is an object array, which latentcraft does not load", read_npz, path)
    np.save(tmp_path / "single.npy", np.zeros(3))
    refused(r"is a file but not an \.npz archive", read_dataset, tmp_path / "single.npy")
    refused(r"holds a single array, not an \.npz archive", read_npz, tmp_path / "single.npy")
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 truncated")
    refused(r"bad\.npz: cannot be read as an \.npz archive", read_npz, tmp_path / "bad.npz")


def test_entry_point_refusals(tmp_path):
    refused(r"missing: does not exist; check the path", read_dataset, tmp_path / "missing")
    refused(r"image_column and label_column apply to Hugging Face datasets only", read_dataset,
            npz(tmp_path / "d.npz"), image_column="img")
    refused(r"test_fraction must be a number between 0 and 1", read_dataset, tmp_path / "d.npz", test_fraction=1.0)
    bad = LabelledImages(np.zeros((2, H, W), np.uint8), np.zeros(2, np.int64), np.zeros((1, H, W, 1), np.uint8),
                         np.zeros(1, np.int64), ["a", "b"], source="mine")
    refused(r"^mine: x_train must be uint8 \(N, H, W, C\) with C = 1 or 3, not uint8 \(2, 10, 12\)$", bad.check)


# ---- Hugging Face ------------------------------------------------------------------------------


@pytest.fixture
def hf():
    return pytest.importorskip("datasets", reason="the optional 'datasets' package is not installed "
                                                  "(pip install 'latentcraft[hf]')")


def hf_split(hf, values, labels, names=("cat", "dog", "emu"), extra=None):
    columns = {"img": [Image.fromarray(grey(v)) for v in values], "label": labels, **(extra or {})}
    features = {"img": hf.Image(), "label": hf.ClassLabel(names=list(names))}
    features.update({k: hf.Image() if isinstance(v[0], Image.Image) else hf.Value("int64")
                     for k, v in (extra or {}).items()})
    return hf.Dataset.from_dict(columns, features=hf.Features(features))


def test_hf_dataset_dict(tmp_path, hf):
    splits = {"train": hf_split(hf, range(6), [0, 1, 2, 0, 1, 2]), "test": hf_split(hf, [60, 61], [2, 0]),
              "validation": hf_split(hf, [70], [1])}
    hf.DatasetDict(splits).save_to_disk(str(tmp_path / "ds"))
    before = files(tmp_path)
    data = read_dataset(tmp_path / "ds")
    assert files(tmp_path) == before
    assert detect_format(tmp_path / "ds") == "hf" and data.class_names == ["cat", "dog", "emu"]
    assert data.x_train.shape == (6, H, W, 1) and data.x_train[:, 0, 0, 0].tolist() == list(range(6))
    assert data.counts() == {"train": [2, 2, 2], "test": [1, 0, 1]} and data.y_test.tolist() == [2, 0]
    notes = " | ".join(data.notes)
    assert "image column 'img', label column 'label'" in notes and "ignored split validation" in notes


def test_hf_single_dataset_is_split_and_columns_can_be_chosen(tmp_path, hf):
    ds = hf_split(hf, range(20), [0] * 10 + [1] * 10, names=("a", "b"),
                  extra={"other": [Image.fromarray(grey(200))] * 20, "group": [k % 3 for k in range(20)]})
    ds.save_to_disk(str(tmp_path / "ds"))
    refused(r"has 2 Image columns \(img, other\); choose the image column with image_column=", read_dataset,
            tmp_path / "ds")
    data = read_dataset(tmp_path / "ds", test_fraction=0.2, seed=1, image_column="img")
    assert data.counts() == {"train": [8, 8], "test": [2, 2]} and "seed 1" in data.split_note
    again = read_dataset(tmp_path / "ds", test_fraction=0.2, seed=1, image_column="other", label_column="group")
    assert again.class_names == ["0", "1", "2"] and int(again.x_train.max()) == 200
    refused(r"has no column 'nope' \(label_column\)", read_dataset, tmp_path / "ds", image_column="img",
            label_column="nope")


def test_hf_refusals(tmp_path, hf):
    junk = hf.Dataset.from_dict({"img": [{"bytes": b"junk", "path": None}] * 2, "label": [0, 1]},
                                features=hf.Features({"img": hf.Image(), "label": hf.ClassLabel(names=["a", "b"])}))
    junk.save_to_disk(str(tmp_path / "junk"))
    refused(r"junk: train row 0 \('img'\): cannot be read as an image .*\(and 1 more problem\)", read_dataset,
            tmp_path / "junk")
    hf.DatasetDict({"test": hf_split(hf, [1], [0])}).save_to_disk(str(tmp_path / "notrain"))
    refused(r"has splits test but no 'train'", read_dataset, tmp_path / "notrain")
    hf.DatasetDict({"train": hf_split(hf, [1, 2], [0, 1]), "test": hf_split(hf, [3], [0], names=("x", "y", "z"))}) \
        .save_to_disk(str(tmp_path / "names"))
    refused(r"the test split's 'label' class names differ from train's", read_dataset, tmp_path / "names")
    big = hf.Dataset.from_dict({"img": [Image.fromarray(grey(0, (70, 70)))] * 2, "label": [0, 1]})
    big.save_to_disk(str(tmp_path / "big"))
    refused(r"big: train row 0 \('img'\): is 70×70 px .* limit of 64 px", read_dataset, tmp_path / "big",
            label_column="label")


def test_hf_without_the_package_says_how_to_install(tmp_path, monkeypatch):
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "dataset_dict.json").write_text('{"splits": ["train", "test"]}')
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets now raises ImportError
    refused(r"ds: is a Hugging Face dataset; reading it needs the optional 'datasets' package: "
            r"pip install 'latentcraft\[hf\]'$", read_dataset, tmp_path / "ds")
