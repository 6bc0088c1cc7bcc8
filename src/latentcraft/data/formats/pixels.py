"""Decoding one image file (or PIL image) into uint8 pixels, converting only what converts without guessing.

Decisions, each said in a note or in the error:
- PNG and JPEG only (by content, not by name): other formats are refused, naming the file.
- A corrupt, truncated or non-image file is refused, naming it: skipping it would silently change
  the class counts, and a half-copied dataset usually has many of them.
- The size is checked before decoding (so a huge file or decompression bomb is never decoded):
  more than 64 px or fewer than 8 px a side is refused; latentcraft does not resize, since how to
  crop, pad or filter is the owner's choice and changes what the model learns.
- 16-bit greyscale is scaled to 8 bits (round(v × 255 / 65535)): the model sees intensities in
  [0, 1] either way, so nothing it can use is lost.
- Palette images become RGB (grey if their palette is grey); 1-bit images become grey (0 and 255);
  CMYK and YCbCr JPEGs become RGB.
- An alpha channel is dropped when it is fully opaque (it carries nothing); an image with
  transparent pixels is refused, since what shows through (black? white?) is the owner's choice.
- An RGB image whose three channels are equal everywhere is grey and is kept as grey; a dataset
  is RGB if any image in it is colour, and then its grey images are converted to RGB (replicated).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, UnidentifiedImageError

from latentcraft.data.formats.labelled_images import DatasetError, side_problem

IMAGE_FORMATS = ("PNG", "JPEG")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class Conversions:
    """What a reader converted, counted by kind with one example each: the notes of LabelledImages."""

    def __init__(self) -> None:
        self._seen: dict[str, list] = {}  # kind -> [count, first example]

    def add(self, kind: str, example: str, count: int = 1) -> None:
        entry = self._seen.setdefault(kind, [0, example])
        entry[0] += count

    def discard(self, kind: str) -> None:
        self._seen.pop(kind, None)

    def notes(self) -> list[str]:
        return [f"{kind}: {count} image{'s' * (count != 1)}, e.g. {example}"
                for kind, (count, example) in self._seen.items()]


def read_image_file(source: Path | IO[bytes], name: str, conversions: Conversions) -> np.ndarray:
    """uint8 pixels of a PNG or JPEG file (a path, or its bytes): (H, W) grey or (H, W, 3) RGB.

    `name` is how errors name it.
    """
    try:
        with warnings.catch_warnings():
            # Pillow warns, then raises, on decompression bombs; the size check below comes first anyway.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                if image.format not in IMAGE_FORMATS:
                    raise DatasetError(f"{name}: is a {image.format} image; only PNG and JPEG are read, "
                                       "so convert it to PNG or remove it")
                problem = side_problem(image.height, image.width)
                if problem:
                    raise DatasetError(f"{name}: {problem}")
                image.load()
                return image_pixels(image, name, conversions)
    except DatasetError:
        raise
    except Exception as error:  # PIL raises OSError, SyntaxError, ValueError... for damaged files
        reason = ("not a file PIL recognises as an image" if isinstance(error, UnidentifiedImageError)
                  else " ".join(str(error).split()) or type(error).__name__)
        raise DatasetError(f"{name}: cannot be read as an image ({reason}); replace it with a good "
                           "copy or remove it") from None


def image_pixels(image: Image.Image, name: str, conversions: Conversions) -> np.ndarray:
    """uint8 pixels of a decoded PIL image: (H, W) grey or (H, W, 3) RGB, converting as the module says."""
    problem = side_problem(image.height, image.width)
    if problem:
        raise DatasetError(f"{name}: {problem}")
    mode = image.mode
    if mode == "L":
        return np.asarray(image, dtype=np.uint8)
    if mode == "1":
        conversions.add("1-bit image converted to grey (0 and 255)", name)
        return np.asarray(image.convert("L"), dtype=np.uint8)
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        values = np.asarray(image).astype(np.int64)
        if values.min() < 0 or values.max() > 65535:
            raise DatasetError(f"{name}: holds 32-bit values outside 0..65535; save it as an 8-bit PNG")
        conversions.add("16-bit grey scaled to 8 bits (round(v × 255 / 65535))", name)
        return ((values * 255 + 32767) // 65535).astype(np.uint8)
    if mode == "P":
        has_alpha = "transparency" in image.info
        conversions.add("palette image converted to " + ("RGBA" if has_alpha else "RGB"), name)
        image = image.convert("RGBA" if has_alpha else "RGB")
        mode = image.mode
    if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        conversions.add(f"{mode} image converted to RGB", name)
        image, mode = image.convert("RGB"), "RGB"
    if mode in ("LA", "La", "PA"):
        return _opaque(np.asarray(image.convert("LA"), dtype=np.uint8), name, conversions)[..., 0]
    if mode in ("RGBA", "RGBa", "RGBX"):
        rgb = _opaque(np.asarray(image.convert("RGBA"), dtype=np.uint8), name, conversions)
        return _colour_or_grey(rgb, name, conversions)
    if mode == "RGB":
        return _colour_or_grey(np.asarray(image, dtype=np.uint8), name, conversions)
    raise DatasetError(f"{name}: has PIL mode {mode!r}, which latentcraft does not read; save it as an 8-bit "
                       "grey or RGB PNG")


def _opaque(pixels: np.ndarray, name: str, conversions: Conversions) -> np.ndarray:
    """The colour channels of pixels with alpha last, if the alpha is fully opaque; refused otherwise."""
    if (pixels[..., -1] != 255).any():
        raise DatasetError(f"{name}: has transparent pixels; flatten it onto the background you want "
                           "(e.g. white) and save it without alpha, since latentcraft will not guess one")
    conversions.add("fully opaque alpha channel dropped", name)
    return pixels[..., :-1]


GREY_RGB = "RGB image with three equal channels kept as grey (one channel)"


def _colour_or_grey(rgb: np.ndarray, name: str, conversions: Conversions) -> np.ndarray:
    """(H, W) when the three channels are equal everywhere (the image is grey), else (H, W, 3)."""
    if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
        conversions.add(GREY_RGB, name)
        return np.ascontiguousarray(rgb[..., 0])
    return rgb


def stack_images(pixels: list[np.ndarray], names: list[str], conversions: Conversions) -> np.ndarray:
    """One uint8 (N, H, W, C) array of same-size images: C = 3 if any image is colour, else 1.

    RGB files found to be grey stay in the notes only when the dataset stays grey (then they
    were stored with one channel); grey images are converted to RGB when others are colour.
    """
    colour = [p.ndim == 3 for p in pixels]
    if any(colour):
        conversions.discard(GREY_RGB)
        grey = [name for name, c in zip(names, colour) if not c]
        if grey:
            conversions.add("grey image converted to RGB, since others in the dataset are colour",
                            grey[0], len(grey))
        stacked = [p if p.ndim == 3 else np.repeat(p[..., None], 3, axis=2) for p in pixels]
        return np.stack(stacked)
    return np.stack(pixels)[..., None]


def same_size_problems(sizes: list[tuple[int, int]], names: list[str], where: str) -> list[str]:
    """One problem per image whose (H, W) differs from the most common size, naming a file of that size."""
    if not sizes:
        return []
    values, counts = np.unique(np.array(sizes), axis=0, return_counts=True)
    if len(values) == 1:
        return []
    top = values[int(np.argmax(counts))]
    common = (int(top[0]), int(top[1]))
    reference = names[sizes.index(common)]
    return [f"{where}: images differ in size: {name} is {size[1]}×{size[0]} but {reference} is "
            f"{common[1]}×{common[0]} px (width×height); resize them all to one size first (latentcraft does "
            "not resize, since how to crop or pad is your choice)"
            for name, size in zip(names, sizes) if size != common]
