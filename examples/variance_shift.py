"""Dropout before BatchNorm shifts the variance BN sees at test time; recalibrate_bn removes the shift.

    python examples/variance_shift.py                          # Fashion-MNIST ($TINYGRAD_BN_DATA or download)
    python examples/variance_shift.py --data-dir DATA --epochs 1

A short walk through what ``tinygrad-bn variance-shift`` does (docs/experiments.md shows its results):
first the closed form on synthetic input, then one MLP with dropout in front of each BN layer.
"""

import argparse

import numpy as np

import tinygrad_bn as tg
from tinygrad_bn import nn, optim
from tinygrad_bn.data import FASHION_MNIST_MEAN, FASHION_MNIST_STD, DataLoader, load_fashion_mnist, prepare
from tinygrad_bn.diagnostics import variance_shift, variance_shift_dropout
from tinygrad_bn.nn.utils import recalibrate_bn
from tinygrad_bn.train import evaluate, train_epoch

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data-dir", default=None, help="folder holding fashion-mnist/")
parser.add_argument("--epochs", type=int, default=2)
args = parser.parse_args()

# 1. Synthetic: x ~ N(c, v) -> Dropout(p) -> BN. In training BN learns Var(dropout(x)); in eval dropout is
#    the identity and BN's input has variance v: the ratio Delta = v / Var(dropout(x)) has a closed form.
tg.manual_seed(0)
c, v, p = 1.0, 1.0, 0.5
model = nn.Sequential(nn.Dropout(p), nn.BatchNorm1d(4, momentum=None))
rng = np.random.default_rng(0)
batches = [rng.normal(c, np.sqrt(v), (1000, 4)).astype(np.float32) for _ in range(100)]
model.train()
for x in batches:
    model(tg.Tensor(x))                               # BN's running_var learns the noisy variance
print(f"closed form Delta = {variance_shift_dropout(c, v, p):.4f}")
print(variance_shift(model, batches))                 # measured in eval mode: mean_shift ~ the same

# 2. An MLP with dropout in front of each Linear -> BN block, trained briefly on Fashion-MNIST.
train_images, train_labels = load_fashion_mnist("train", data_dir=args.data_dir)
test_images, test_labels = load_fashion_mnist("test", data_dir=args.data_dir)
x_train = prepare(train_images, FASHION_MNIST_MEAN, FASHION_MNIST_STD)
x_test = prepare(test_images, FASHION_MNIST_MEAN, FASHION_MNIST_STD)
tg.manual_seed(0)
model = nn.Sequential(
    nn.Dropout(0.5), nn.Linear(784, 512), nn.BatchNorm1d(512), nn.ReLU(),
    nn.Dropout(0.5), nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(),
    nn.Linear(512, 10),
)
optimizer = optim.Adam(model.parameters(), lr=1e-3)
loader = DataLoader(x_train, train_labels, batch_size=128, shuffle=True, seed=0)
for epoch in range(args.epochs):
    print(f"epoch {epoch + 1}: train", train_epoch(model, loader, optimizer, progress=True))

probe = [x_train[i:i + 1000] for i in range(0, 10_000, 1000)]      # 10k training images, eval mode
print("before recalibrate_bn: test", evaluate(model, x_test, test_labels))
print(variance_shift(model, probe))                                 # mean_shift < 1: BN over-estimates

# 3. The remedy: re-estimate BN's statistics with dropout off, one pass over the training data.
recalibrate_bn(model, DataLoader(x_train, train_labels, batch_size=128, shuffle=True, seed=1))  # i.i.d. batches
print("after recalibrate_bn: test", evaluate(model, x_test, test_labels))
print(variance_shift(model, probe))                                 # mean_shift ~ 1
