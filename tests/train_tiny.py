#!/usr/bin/env python3
"""`cltool train` on a tiny IDX data set it writes itself.

200 images of 4x4 pixels in 3 classes, each class brighter in its own
band of pixels, so that a linear classifier separates them. The training
images are gzipped and the rest plain, as both must load. After 5 epochs
the training loss must have fallen and the test accuracy must be well
above the 1/3 of chance.

    train_tiny.py CLTOOL DEVICE [LOSS]
"""
import gzip
import os
import random
import struct
import subprocess
import sys
import tempfile

CLASSES = 3
PIXELS = 16


def image(label, rng):
    """Noise in [0, 100), plus 150 on the label's band of 5 pixels."""
    return bytes(rng.randrange(100) + (150 if p // 5 == label else 0)
                 for p in range(PIXELS))


def write_idx(path, dims, payload, compress):
    header = struct.pack(">HBB", 0, 0x08, len(dims))
    header += struct.pack(">" + "I" * len(dims), *dims)
    opener = gzip.open if compress else open
    with opener(path + (".gz" if compress else ""), "wb") as f:
        f.write(header + payload)


def write_set(directory, prefix, count, rng, compress):
    labels = [rng.randrange(CLASSES) for _ in range(count)]
    images = b"".join(image(label, rng) for label in labels)
    write_idx(os.path.join(directory, prefix + "-images-idx3-ubyte"),
              (count, 4, 4), images, compress)
    write_idx(os.path.join(directory, prefix + "-labels-idx1-ubyte"),
              (count,), bytes(labels), False)


def main():
    cltool, device = sys.argv[1], sys.argv[2]
    loss = sys.argv[3] if len(sys.argv) > 3 else "sparse-categorical"
    rng = random.Random(20240607)
    with tempfile.TemporaryDirectory() as directory:
        write_set(directory, "train", 200, rng, True)
        write_set(directory, "t10k", 60, rng, False)
        run = subprocess.run(
            [cltool, "train", "--data", directory, "--device", device,
             "--loss", loss, "--epochs", "5", "--batch", "16",
             "--learning-rate", "0.01"],
            capture_output=True, text=True, check=False)
    print(run.stdout, end="")
    print(run.stderr, end="", file=sys.stderr)
    if run.returncode == 77:
        sys.exit(77)
    if run.returncode != 0:
        sys.exit(f"cltool train exited with {run.returncode}")

    rows = [line.split() for line in run.stdout.splitlines()[1:]]
    if len(rows) != 5 or any(len(r) != 5 for r in rows):
        sys.exit("expected 5 epoch lines of 5 columns")
    losses = [float(r[1]) for r in rows]
    accuracy = float(rows[-1][3])
    if not losses[-1] < 0.7 * losses[0]:
        sys.exit(f"training loss did not fall: {losses}")
    if accuracy < 0.9:
        sys.exit(f"test accuracy {accuracy} is not well above chance")


if __name__ == "__main__":
    main()
