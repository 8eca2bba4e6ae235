"""Train an MLP with BatchNorm and Dropout on MNIST, in plain steps you can edit.

    python examples/mnist_mlp.py                               # full MNIST (downloads it once, ~11 MB)
    python examples/mnist_mlp.py --data-dir DATA --holdout 2000   # DATA holds mnist/ with only the test split

This is what ``tinygrad-bn mnist`` does, without the options and the output files.
docs/mnist.md walks through it line by line.
"""

import argparse
import time

import tinygrad_bn as tg
import tinygrad_bn.functional as F
from tinygrad_bn import nn, optim
from tinygrad_bn.data import DataLoader, RandomShift, load_mnist, prepare
from tinygrad_bn.train import evaluate

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data-dir", default=None, help="folder holding mnist/ (default: download to the cache)")
parser.add_argument("--holdout", type=int, default=0, help="train on the test split minus N images, test on N")
parser.add_argument("--epochs", type=int, default=30)
args = parser.parse_args()

# 1. Data: uint8 images (N, 28, 28) and labels (N,).
if args.holdout:
    images, labels = load_mnist("test", data_dir=args.data_dir)
    train_images, train_labels = images[:-args.holdout], labels[:-args.holdout]
    test_images, test_labels = images[-args.holdout:], labels[-args.holdout:]
else:
    train_images, train_labels = load_mnist("train", data_dir=args.data_dir)
    test_images, test_labels = load_mnist("test", data_dir=args.data_dir)

# 2. Batches: shuffled each epoch, each image shifted by up to one pixel, then standardized to float32 (B, 784).
shift = RandomShift(max_shift=1, seed=0)
train_loader = DataLoader(train_images, train_labels, batch_size=128, shuffle=True, seed=0, drop_last=True,
                          transform=lambda xb: prepare(shift(xb)))
test_x = prepare(test_images)

# 3. The model: 784 -> 512 -> 512 -> 10, each hidden layer followed by BatchNorm, ReLU and Dropout.
tg.manual_seed(0)
model = nn.Sequential(
    nn.Linear(784, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Dropout(0.2),
    nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Dropout(0.2),
    nn.Linear(512, 10),
)

# 4. SGD with momentum and weight decay; the learning rate follows a cosine from 0.1 down to 0.
optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)

# 5. Train: forward, loss, zero the old gradients, backward, update. Then evaluate on the test images.
for epoch in range(1, args.epochs + 1):
    start = time.perf_counter()
    model.train()                       # BatchNorm uses batch statistics, Dropout drops
    total_loss, correct, seen = 0.0, 0, 0
    for xb, yb in train_loader:
        logits = model(tg.Tensor(xb))   # (128, 10)
        loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(yb)
        correct += int((logits.data.argmax(axis=1) == yb).sum())
        seen += len(yb)
    scheduler.step()
    test = evaluate(model, test_x, test_labels)   # eval mode + no_grad: running statistics, no dropout
    print(f"epoch {epoch:2d}  train loss {total_loss / seen:.4f}  train acc {100 * correct / seen:.2f}%  "
          f"test acc {100 * test['acc']:.2f}%  {time.perf_counter() - start:.1f} s")

# 6. Save the weights; tg.load + model.load_state_dict brings them back.
tg.save(model.state_dict(), "mnist_mlp.npz")
print("saved mnist_mlp.npz")
