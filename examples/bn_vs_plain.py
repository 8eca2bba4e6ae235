"""BatchNorm makes a sigmoid network train faster (Ioffe & Szegedy 2015, Figure 1a), in a few lines.

    python examples/bn_vs_plain.py                             # Fashion-MNIST ($TINYGRAD_BN_DATA or download)
    python examples/bn_vs_plain.py --data-dir DATA --steps 2000

The same 784-100-100-100-10 sigmoid network with and without BN, plain SGD, batches of 60, the same seed
and batches; test accuracy every 500 steps. ``tinygrad-bn bn-vs-plain`` adds the CSV, the plots and options.
"""

import argparse

import tinygrad_bn as tg
import tinygrad_bn.functional as F
from tinygrad_bn import optim
from tinygrad_bn.data import FASHION_MNIST_MEAN, FASHION_MNIST_STD, DataLoader, load_fashion_mnist, prepare
from tinygrad_bn.models import mlp
from tinygrad_bn.train import evaluate

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data-dir", default=None, help="folder holding fashion-mnist/")
parser.add_argument("--steps", type=int, default=3000)
parser.add_argument("--lr", type=float, default=0.1)
args = parser.parse_args()

train_images, train_labels = load_fashion_mnist("train", data_dir=args.data_dir)
test_images, test_labels = load_fashion_mnist("test", data_dir=args.data_dir)
x_train = prepare(train_images, FASHION_MNIST_MEAN, FASHION_MNIST_STD)
x_test = prepare(test_images, FASHION_MNIST_MEAN, FASHION_MNIST_STD)

for batch_norm in (True, False):
    tg.manual_seed(0)
    # Linear -> (BatchNorm1d) -> Sigmoid, three times, then Linear(100, 10); no dropout
    model = mlp(784, (100, 100, 100), 10, batch_norm=batch_norm, dropout=0.0, activation="sigmoid")
    optimizer = optim.SGD(model.parameters(), lr=args.lr)
    loader = DataLoader(x_train, train_labels, batch_size=60, shuffle=True, seed=0, drop_last=True)
    step = 0
    while step < args.steps:
        for xb, yb in loader:
            model.train()
            loss = F.cross_entropy(model(tg.Tensor(xb)), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step % 500 == 0 or step == args.steps:
                acc = evaluate(model, x_test, test_labels)["acc"]
                print(f"{'with' if batch_norm else 'without'} BN: step {step:5d}  test accuracy {acc:.4f}")
            if step == args.steps:
                break
