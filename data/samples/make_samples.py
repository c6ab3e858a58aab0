#!/usr/bin/python3
"""Writes the small bundled samples in data/samples/ from the full copies in ../shared/data.

Run with Debian's Python and Pillow (python3-pil):  /usr/bin/python3 data/samples/make_samples.py

  pretrain/      13 clips, the first 60 frames of each, short side 96 px (Lanczos), JPEG quality 88:
                 enough for `siammae train --config tiny` (64 px crops) in a few minutes
  davis-240p/    3 DAVIS 2016 validation sequences at half resolution (427x240): frames
                 Lanczos-resized (JPEG quality 92), masks resized with nearest neighbour so
                 they keep their palette indices; DAVIS 2017 layout with resolution "240p"
Licenses and attribution: README.md next to this script.
"""
import os
import shutil

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "..", "shared", "data")

PRETRAIN_CLIPS = ["davis-bear", "davis-boat", "davis-car-turn", "davis-dance-jump", "davis-flamingo", "davis-hike",
                  "davis-horsejump-low", "davis-mallard-water", "davis-rhino", "davis-train", "imageio-cockatoo",
                  "kivy-city-shot1", "sam2-bedroom"]
PRETRAIN_FRAMES, PRETRAIN_SHORT_SIDE = 60, 96
DAVIS_SEQUENCES = ["blackswan", "car-shadow", "libby"]


def resized(image, short_side):
    scale = short_side / min(image.size)
    return image.resize((round(image.size[0] * scale), round(image.size[1] * scale)), Image.LANCZOS)


def fresh(folder):
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)


def make_pretrain():
    source = os.path.join(SHARED, "pretrain")
    for clip in PRETRAIN_CLIPS:
        out = os.path.join(HERE, "pretrain", clip)
        fresh(out)
        frames = sorted(f for f in os.listdir(os.path.join(source, clip)) if f.endswith(".jpg"))[:PRETRAIN_FRAMES]
        for name in frames:
            image = Image.open(os.path.join(source, clip, name)).convert("RGB")
            resized(image, PRETRAIN_SHORT_SIDE).save(os.path.join(out, name), quality=88)
    licenses = os.path.join(HERE, "pretrain", "LICENSES")
    fresh(licenses)
    for name in os.listdir(os.path.join(source, "LICENSES")):
        shutil.copy(os.path.join(source, "LICENSES", name), licenses)


def make_davis():
    source = os.path.join(SHARED, "davis2016-val8")
    root = os.path.join(HERE, "davis-240p")
    fresh(root)
    for seq in DAVIS_SEQUENCES:
        for kind, ext in (("JPEGImages", ".jpg"), ("Annotations", ".png")):
            src = os.path.join(source, kind, "480p", seq)
            out = os.path.join(root, kind, "240p", seq)
            os.makedirs(out)
            for name in sorted(f for f in os.listdir(src) if f.endswith(ext)):
                image = Image.open(os.path.join(src, name))
                size = (image.size[0] // 2, image.size[1] // 2)
                if kind == "JPEGImages":
                    image.convert("RGB").resize(size, Image.LANCZOS).save(os.path.join(out, name), quality=92)
                else:
                    assert image.mode == "P", name  # indexed: nearest keeps the palette indices
                    image.resize(size, Image.NEAREST).save(os.path.join(out, name))
    os.makedirs(os.path.join(root, "ImageSets", "2017"))
    with open(os.path.join(root, "ImageSets", "2017", "val.txt"), "w") as f:
        f.write("\n".join(DAVIS_SEQUENCES) + "\n")
    shutil.copy(os.path.join(source, "DAVIS-2016-README.md"), root)


make_pretrain()
make_davis()
print("wrote data/samples/pretrain and data/samples/davis-240p")
