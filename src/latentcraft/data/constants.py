"""Facts of MNIST-format data (28 × 28 grey, 10 classes); a run of other data takes its shape from data/shape.py."""

IMAGE_SIDE = 28  # MNIST and Fashion-MNIST images are 28 x 28
IMAGE_PIXELS = IMAGE_SIDE * IMAGE_SIDE  # 784, the flattened image size
NUM_CLASSES = 10  # labels 0..9
UNLABELLED = -1  # label value of an example whose label is hidden from training

CLASS_NAMES = {
    "mnist": [str(k) for k in range(NUM_CLASSES)],
    "fashion-mnist": [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
}
